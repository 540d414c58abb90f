"""The README's shell examples run as written. Every command of every ```bash block is either run (one test per
command, in README order, with bash `set -euo pipefail`, from a scratch directory laid out like a checkout) or
skipped for a reason this file names: it needs a server or the network, it is interactive, or it is a long job
(set-up, training, benchmarks, the whole test suite, evals of the model or of the 1,034-text intent set). A new
example is run unless it matches one of those reasons."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP = {
    "needs a server or the network": re.compile(r"\bcurl\b|shopquery (serve|ui)\b|^vllm |docker |deploy/|"
                                                r"SHOPQUERY_LLM_|openssl"),
    "interactive": re.compile(r"shopquery (chat|demo)\b"),
    "a long job": re.compile(r"scripts/(setup|setup_vllm|test)\.sh|train-intent|eval/bench_|eval/load_api|"
                             r"tests\.fuzz|shopquery eval (run|compare|agent|expansion|intent)\b"),
}
KEY_SETTING = re.compile(r"SHOPQUERY_API_KEYS=([^\s$`'\"]+)")


def bash_blocks(text: str) -> list[list[str]]:
    """The commands of each ```bash block: continuation lines joined, comments and blank lines left out."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        joined = re.sub(r"\\\n\s*", " ", body)
        commands = [line.strip() for line in joined.splitlines()]
        blocks.append([c for c in commands if c and not c.startswith("#")])
    return blocks


def skip_reason(command: str) -> str | None:
    """Why a README command is not run here (None: it is run)."""
    return next((reason for reason, pattern in SKIP.items() if pattern.search(command)), None)


RUNNABLE = [(f"block{b}-{i}", command)
            for b, block in enumerate(bash_blocks(README.read_text(encoding="utf-8")), start=1)
            for i, command in enumerate(c for c in block if skip_reason(c) is None)]


def test_the_readme_has_examples_that_run_here():
    assert len({name.split("-")[0] for name, _ in RUNNABLE}) >= 3 and len(RUNNABLE) >= 10
    assert all("[" not in c.split("#")[0] for _, c in RUNNABLE), \
        "an example shows [optional] syntax instead of a command that runs"


def test_api_keys_in_the_docs_are_long_enough():
    from assistant.settings import Settings

    for path in (README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / ".env.example"):
        for key in KEY_SETTING.findall(path.read_text(encoding="utf-8")):
            Settings(api_keys=key)  # raises for a key under 16 characters


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A scratch directory laid out like a checkout (the repo's folders, `.venv/bin/shopquery` and `python` of
    this interpreter, the files the examples name, the checkout's `.cache` built by set-up: the intent checkpoint and
the embedded query log) with a small catalog already ingested."""
    from assistant.app import DEMO_CATALOG

    work = tmp_path_factory.mktemp("readme")
    for name in ("assistant", "eval", "prompts", "scripts", "tools", "pyproject.toml"):
        (work / name).symlink_to(ROOT / name)
    (work / ".cache").mkdir()
    for cached in ("intent", "querylog"):
        if (ROOT / ".cache" / cached).exists():
            (work / ".cache" / cached).symlink_to((ROOT / ".cache" / cached).resolve())
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "shopquery").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m assistant.cli "$@"\n')
    (bin_dir / "shopquery").chmod(0o755)
    rows = DEMO_CATALOG.read_text(encoding="utf-8").splitlines()
    (work / "my_catalog.jsonl").write_text("\n".join(rows[:60] + rows[3000:3060]) + "\n", encoding="utf-8")
    (work / "queries.txt").write_text("蓝色T恤\nwireless mouse\ndewalt drill\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHOPQUERY_DATA_DIR": str(work / "data"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"}
    if (ROOT / ".cache" / "intent").exists():
        env.setdefault("SHOPQUERY_INTENT_DIR", str((ROOT / ".cache" / "intent").resolve()))
    code, _, err = run_bounded([str(bin_dir / "shopquery"), "ingest", "my_catalog.jsonl", "--quiet"], work, env, 600)
    assert code == 0, err
    return work, env


def run_bounded(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float) -> tuple[int, str, str]:
    """Run a command in its own process group; on timeout the whole group is killed (no stray processes)."""
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return -1, out, f"timed out after {timeout_s:.0f} s\n{err}"
    return process.returncode, out, err


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name, command", RUNNABLE, ids=[name for name, _ in RUNNABLE])
def test_readme_command_runs_as_written(workspace, name, command):
    work, env = workspace
    code, out, err = run_bounded(["bash", "-c", f"set -euo pipefail\n{command}"], work, env, 600)
    assert code == 0, f"README {name} failed: {command}\n{err[-3000:]}"
    assert "Traceback" not in err
    for line in out.splitlines():
        if line.startswith("{") and line.endswith("}"):
            json.loads(line)  # --json prints one JSON object per command
