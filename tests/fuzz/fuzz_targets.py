"""Fuzz the parser, the spell corrector, catalog ingestion and the API request models with random bytes.

    python -m tests.fuzz.fuzz_targets TARGET --runs N [--seed S] [--json]

TARGET is parser, corrector, ingest, requests or all. Each random buffer is turned into a structured input by the
same Hypothesis strategies the property tests use (`fuzz_one_input`), and the same invariants are checked. A
finding is any failed invariant or unexpected exception; findings are grouped by exception type and message and
printed with one input that triggers each. The exit status is 1 when anything was found."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import checks
from .strategies import catalog_files, queries, request_bodies

TARGETS = ("parser", "corrector", "ingest", "requests")
BUFFER_BYTES = 2048


class Campaign:
    """Runs one target: counts inputs, keeps one example per distinct finding."""

    def __init__(self, name: str, check: Callable[[Any], Any], strategy: st.SearchStrategy[Any]):
        self.name = name
        self.executed = 0
        self.findings: dict[str, dict[str, Any]] = {}
        self.current: Any = None

        @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def target(value: Any) -> None:
            self.current = value
            self.executed += 1
            check(value)

        self.target = target

    def run(self, runs: int, rng: random.Random) -> dict[str, Any]:
        """Feed `runs` random buffers; return the counts and the distinct findings."""
        start = time.perf_counter()
        for _ in range(runs):
            buffer = rng.randbytes(rng.randint(1, BUFFER_BYTES))
            try:
                self.target.hypothesis.fuzz_one_input(buffer)
            except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
                self._record(exc)
        return {"target": self.name, "runs": runs, "executed": self.executed,
                "seconds": round(time.perf_counter() - start, 1), "findings": len(self.findings),
                "distinct": list(self.findings.values())}

    def _record(self, exc: Exception) -> None:
        key = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        entry = self.findings.setdefault(key, {"error": key, "count": 0, "example": repr(self.current)[:400],
                                               "where": _where(exc)})
        entry["count"] += 1


def _where(exc: Exception) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/hypothesis/" not in f.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def build(name: str, workdir: Path) -> Campaign:
    """The campaign for one target (builds the parser or corrector it needs)."""
    if name == "parser":
        parser = checks.build_parser()
        return Campaign(name, lambda text: checks.check_parse(parser, text), queries())
    if name == "corrector":
        corrector = checks.build_corrector()
        return Campaign(name, lambda text: checks.check_correct(corrector, text), queries())
    if name == "ingest":
        return Campaign(name, lambda file: checks.check_ingest(workdir, *file), catalog_files())
    if name == "requests":
        from assistant.api_models import AnalyzeRequest, ChatCompletionRequest, ChatRequest

        models = st.sampled_from([AnalyzeRequest, ChatRequest, ChatCompletionRequest])
        bodies = st.one_of(st.tuples(models, request_bodies()).map(lambda mb: ("object", *mb)),
                           st.tuples(models, st.binary(max_size=200)).map(lambda mb: ("bytes", *mb)))
        return Campaign(name, _check_body, bodies)
    raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)} or all")


def _check_body(item: tuple[str, Any, Any]) -> None:
    kind, model, body = item
    if kind == "object":
        checks.check_request(model, body)
    else:
        checks.check_request_json(model, body)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen targets; print a summary (or JSON) and return 1 when anything was found."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("target", choices=[*TARGETS, "all"])
    args.add_argument("--runs", type=int, default=1000, help="random inputs per target")
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--json", action="store_true", help="print one JSON object")
    opts = args.parse_args(argv)
    rng = random.Random(opts.seed)
    reports = []
    with tempfile.TemporaryDirectory(prefix="shopquery-fuzz-") as tmp:
        for name in TARGETS if opts.target == "all" else (opts.target,):
            reports.append(build(name, Path(tmp)).run(opts.runs, rng))
    if opts.json:
        print(json.dumps({"seed": opts.seed, "targets": reports}, ensure_ascii=False, indent=1))
    else:
        for r in reports:
            print(f"{r['target']}: {r['runs']} inputs ({r['executed']} executed) in {r['seconds']} s, "
                  f"{r['findings']} distinct findings")
            for finding in r["distinct"]:
                print(f"  {finding['count']}x {finding['error']} at {finding['where']}\n    e.g. {finding['example']}")
    return 1 if any(r["findings"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
