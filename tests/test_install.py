"""`pip install .` gives a working product: the wheel built from the checkout holds every file of the packages
(prompts, lexicons, demo data, eval suites and data), and once installed (not editable) into a fresh venv, the
`shopquery` command run outside the checkout analyzes queries from the installed files alone, as the checkout does.

The fresh venv gets the heavy dependencies (torch, the model packages) by a `.pth` line naming this interpreter's
site-packages, after its own: nothing is downloaded, and the `.pth` files of that folder (such as the editable
install of the checkout) are not run, so `assistant`, `tools`, `eval` and `prompts` can only come from the wheel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "tools", "eval", "prompts")
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".cache", "__pycache__", "*.egg-info", ".pytest_cache",
                                    ".ruff_cache", "build", "dist", "out")
ZH_QUERY, EN_QUERY = "蓝色T恤 100元以内", "black toner under $100"


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command, its output as text; a failure shows the command's stderr."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PYTHONPATH, PYTHONHOME or any shopquery setting, offline."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("SHOPQUERY_")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
            "GRADIO_ANALYTICS_ENABLED": "False", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel .` builds from a copy of the checkout (caches and build leftovers left out)."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCE, symlinks=True)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(work / "dist"), str(work / "src")], work, clean_env())
    (built,) = (work / "dist").glob("shopquery-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_packages(wheel):
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {path.relative_to(ROOT).as_posix() for package in PACKAGES for path in (ROOT / package).rglob("*")
                if path.is_file() and "__pycache__" not in path.parts}
    assert expected - shipped == set()
    for must in ("prompts/system.yaml", "prompts/variants/terse.yaml", "tools/resources/zh_words.tsv.gz",
                 "assistant/data/demo_catalog.jsonl", "eval/suites/retrieval_dev.yaml", "tools/resources/intent_train.jsonl"):
        assert must in shipped
    assert not [name for name in shipped if name.startswith(("tests/", "scripts/", ".cache/"))]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv with the wheel installed (not editable), this interpreter's site-packages for the
    dependencies, a data folder holding a small catalog, and the folder outside the checkout to run in."""
    work = tmp_path_factory.mktemp("installed")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work, clean_env())
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], work, clean_env())
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work,
                    clean_env()).stdout.strip())
    shared = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "zz-shared-dependencies.pth").write_text("".join(f"{path}\n" for path in shared), encoding="utf-8")
    data = work / "data"
    _reuse_setup_artefacts(data)
    rows = (ROOT / "assistant" / "data" / "demo_catalog.jsonl").read_text(encoding="utf-8").splitlines()
    tees = [row for row in rows[3120:] if "t恤" in row.lower()]
    (work / "catalog.jsonl").write_text("\n".join(rows[:120] + rows[3000:3120] + tees) + "\n", encoding="utf-8")
    env = clean_env(SHOPQUERY_DATA_DIR=str(data))
    if (ROOT / ".cache" / "intent" / "intent.json").is_file():
        env["SHOPQUERY_INTENT_DIR"] = str((ROOT / ".cache" / "intent").resolve())
    run([str(venv / "bin" / "shopquery"), "ingest", "catalog.jsonl", "--quiet"], work, env)
    return {"venv": venv, "site": site, "python": python, "env": env, "cwd": work}


def _reuse_setup_artefacts(data: Path) -> None:
    """The query-log embeddings set-up made in the checkout, linked into the data folder where an installed
    package keeps them (otherwise the first query embeds 40,000 logged queries)."""
    (data / "expansion").mkdir(parents=True)
    for vectors in (ROOT / ".cache" / "querylog").glob("querylog-*.npy"):
        (data / "expansion" / vectors.name).symlink_to(vectors.resolve())


PROBE = """
import importlib.metadata, json, sys
import assistant.cli, eval.specs, prompts, tools.package_files
from assistant.app import DEMO_CATALOG
from assistant.prompts import PromptLibrary
dist = importlib.metadata.distribution("shopquery")
print(json.dumps({"modules": [m.__file__ for m in (assistant.cli, eval.specs, prompts, tools.package_files)],
                  "files": [str(PromptLibrary().directory), str(DEMO_CATALOG), str(eval.specs.SUITES_DIR)],
                  "families": sorted(PromptLibrary().families), "dist": str(dist._path),
                  "direct_url": json.loads(dist.read_text("direct_url.json")), "path": sys.path}))
"""


@pytest.mark.integration
@pytest.mark.slow
def test_the_installed_package_runs_from_its_own_files(installed):
    probe = json.loads(run([str(installed["python"]), "-c", PROBE], installed["cwd"], installed["env"]).stdout)
    site = installed["site"]
    for path in probe["modules"] + probe["files"] + [probe["dist"]]:
        assert Path(path).is_relative_to(site), path
    assert "archive_info" in probe["direct_url"] and "dir_info" not in probe["direct_url"]  # a wheel, not editable
    assert {"system", "reply", "expansion"} <= set(probe["families"])
    assert str(ROOT) not in [str(Path(p).resolve()) for p in probe["path"] if p]
    assert not installed["cwd"].resolve().is_relative_to(ROOT)


def _analyze(command: list[str], query: str, cwd: Path, env: dict[str, str], *flags: str) -> str:
    return run([*command, "analyze", query, *flags], cwd, env).stdout


def _without_timings(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("timings:"))


@pytest.mark.integration
@pytest.mark.slow
def test_the_installed_command_analyzes_queries_as_the_checkout_does(installed):
    shopquery = [str(installed["venv"] / "bin" / "shopquery")]
    zh = _analyze(shopquery, ZH_QUERY, installed["cwd"], installed["env"])
    lines = zh.splitlines()
    assert lines[:2] == [f"query: {ZH_QUERY}", "kind: t恤"]
    products = [line for line in lines if re.match(r" ?\d+\. \[", line)]
    assert len(products) == 10
    assert all(line.endswith(" CNY") and float(line.split("|")[-1].split()[0]) <= 100 for line in products)
    assert sum("t恤" in line.lower() for line in products) >= 8
    en = json.loads(_analyze(shopquery, EN_QUERY, installed["cwd"], installed["env"], "--json"))
    assert en["filters"]["price_max"] == 100 and en["attributes"]["color"] == "black"
    assert en["intent"]["label"] == "product_search" and en["product_kind"] == "toner cartridge"
    assert en["products"] and all(hit["product"]["price"] <= 100 for hit in en["products"])
    assert en["products"][0]["product"]["color"] == "black"

    checkout = [sys.executable, "-m", "assistant.cli"]
    env = {**installed["env"], "PYTHONPATH": str(ROOT)}
    assert _without_timings(_analyze(checkout, ZH_QUERY, ROOT, env)) == _without_timings(zh)
    from_checkout = json.loads(_analyze(checkout, EN_QUERY, ROOT, env, "--json"))
    for analysis in (en, from_checkout):
        analysis.pop("timings")
    assert from_checkout == en
