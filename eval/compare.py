"""Compare two eval runs cell by cell and case by case; usable as a CI gate (exit 1 on any regression).

    .venv/bin/python -m eval.compare RUN_A RUN_B [--threshold 0.02] [--latency-threshold 0.10] [--out diff.md]

How a metric is judged (see docs/eval.md):
- direction: the run's `metric_directions`, else the naming rule of `metric_direction` (lower is better
  for latency names and fallback/false/error/fail… names; run facts such as `cases` are never judged);
- latency metrics (`ms` as a word of the name, or `_s` at the end) are compared relatively: a regression
  is more than `latency_threshold` × the old value worse (None disables the latency gate);
- scores and rates (both values within 0..1) are compared absolutely: more than `threshold` worse;
- other magnitudes (counts) are compared relatively with `threshold`;
- a judged metric that was a number and is now null or absent, a suite threshold that now fails, and a
  cell that ran in A but could not run in B are regressions too. Case flips are reported but do not by
  themselves fail the gate (their metrics do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from eval.report_record import (
    CellRecord,
    Direction,
    RecordedCase,
    RunRecord,
    RunRecordError,
    as_text,
    failing_metrics,
    format_value,
    is_latency_metric,
    is_number,
    load_run,
    metric_direction,
    parse_run,
)
from tools.core.errors import InputError

DEFAULT_THRESHOLD = 0.02
DEFAULT_LATENCY_THRESHOLD = 0.10
EPSILON = 1e-9  # so that a change of exactly the threshold is not a regression through float rounding

Kind = Literal["score", "latency", "count", "info"]
Status = Literal["regression", "improvement", "unchanged", "missing", "new", "n/a", "info"]
Change = Literal["regressed", "fixed", "new", "missing", "output_changed"]


class IncompatibleRuns(InputError):
    """The two runs cannot be compared meaningfully (different suites, datasets or no cell in common)."""


class MetricDelta(BaseModel):
    """One metric of one cell in both runs, and the verdict."""

    name: str
    direction: Direction | None
    kind: Kind
    old: float | None
    new: float | None
    delta: float | None = None
    relative: float | None = None
    limit: float | None = Field(None, description="how much worse (in the metric's units) is tolerated")
    status: Status

    @property
    def regression(self) -> bool:
        """True when this metric fails the gate."""
        return self.status in ("regression", "missing")


class CaseChange(BaseModel):
    """A case whose result differs between the runs."""

    id: str
    change: Change
    old_status: str | None = None
    new_status: str | None = None
    detail: str = ""


class CellComparison(BaseModel):
    """One matched pair of cells."""

    label: str
    key_a: tuple[str, str]
    key_b: tuple[str, str]
    metrics: list[MetricDelta] = Field(default_factory=list)
    cases: list[CaseChange] = Field(default_factory=list)
    new_threshold_failures: list[str] = Field(default_factory=list)
    cell_error: str | None = Field(None, description="why cell B could not run, when cell A did")

    def case_counts(self) -> dict[str, int]:
        """Number of cases per kind of change."""
        kinds = [c.change for c in self.cases]
        return {k: kinds.count(k) for k in ("regressed", "fixed", "new", "missing", "output_changed")}

    def regressions(self) -> list[str]:
        """Human lines for what fails the gate in this cell."""
        lines = [f"{self.label}: {m.name} {format_value(m.old)} → {format_value(m.new)}"
                 for m in self.metrics if m.regression]
        lines += [f"{self.label}: {name} now fails its threshold" for name in self.new_threshold_failures]
        return lines + ([f"{self.label}: cell failed: {self.cell_error}"] if self.cell_error else [])


class Comparison(BaseModel):
    """Two runs compared: per cell metric deltas and case changes, warnings, and the gate's verdict."""

    suite: str
    run_a: str
    run_b: str
    threshold: float
    latency_threshold: float | None
    warnings: list[str] = Field(default_factory=list)
    cells: list[CellComparison] = Field(default_factory=list)
    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)

    @computed_field
    @property
    def regressions(self) -> list[str]:
        """Every regression, one line each."""
        return [line for cell in self.cells for line in cell.regressions()]

    @property
    def has_regression(self) -> bool:
        """True when the gate should fail."""
        return bool(self.regressions)


def metric_kind(name: str, direction: Direction | None, old: float | None, new: float | None) -> Kind:
    """latency (relative), info (never judged), score (absolute, values within 0..1) or count (relative)."""
    if direction is None:
        return "info"
    if is_latency_metric(name):
        return "latency"
    values = [v for v in (old, new) if v is not None]
    return "score" if all(0.0 <= v <= 1.0 for v in values) else "count"


def judge_metric(name: str, old: Any, new: Any, direction: Direction | None, threshold: float,
                 latency_threshold: float | None) -> MetricDelta:
    """Delta and verdict for one metric (see the module docstring for the rule)."""
    old = float(old) if is_number(old) else None
    new = float(new) if is_number(new) else None
    kind = metric_kind(name, direction, old, new)
    base = {"name": name, "direction": direction, "kind": kind, "old": old, "new": new}
    gated = kind != "info" and not (kind == "latency" and latency_threshold is None)
    if old is None or new is None:
        status: Status = "n/a" if old is None and new is None else ("new" if old is None else "missing")
        return MetricDelta(**base, status="info" if not gated and status != "n/a" else status)
    delta = new - old
    relative = delta / abs(old) if old else None
    if not gated:
        return MetricDelta(**base, delta=delta, relative=relative, status="info")
    relative_limit = latency_threshold if kind == "latency" else threshold
    limit = threshold if kind == "score" else relative_limit * abs(old)
    worse = delta if direction == "lower" else -delta
    status = ("regression" if worse > limit + EPSILON else "improvement" if -worse > limit + EPSILON
              else "unchanged")
    return MetricDelta(**base, delta=delta, relative=relative, limit=limit, status=status)


def _summarise_output(old: Any, new: Any) -> str:
    """What changed in a case's output, in a few words."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        return "changed: " + ", ".join(keys[:6]) + (" …" if len(keys) > 6 else "")
    return f"{as_text(old, 60)!r} → {as_text(new, 60)!r}"


def _why(case: RecordedCase) -> str:
    reasons = ([f"error: {case.error}"] if case.error else []) + case.failures
    return "; ".join(reasons)


def compare_cases(old_cases: list[RecordedCase], new_cases: list[RecordedCase]) -> list[CaseChange]:
    """Cases that flipped, appeared, disappeared, or kept their status with a different output."""
    old_by_id = {c.id: c for c in old_cases}
    new_by_id = {c.id: c for c in new_cases}
    changes = []
    for case_id, new in new_by_id.items():
        old = old_by_id.get(case_id)
        if old is None:
            changes.append(CaseChange(id=case_id, change="new", new_status=new.status, detail=_why(new)))
        elif old.passed and not new.passed:
            changes.append(CaseChange(id=case_id, change="regressed", old_status=old.status,
                                      new_status=new.status, detail=_why(new)))
        elif new.passed and not old.passed:
            changes.append(CaseChange(id=case_id, change="fixed", old_status=old.status,
                                      new_status=new.status, detail=_why(old)))
        elif old.output != new.output or old.error != new.error:
            detail = _summarise_output(old.output, new.output) if old.output != new.output else _why(new)
            changes.append(CaseChange(id=case_id, change="output_changed", old_status=old.status,
                                      new_status=new.status, detail=detail))
    changes += [CaseChange(id=cid, change="missing", old_status=old.status) for cid, old in old_by_id.items()
                if cid not in new_by_id]
    return changes


def replayed(cell: CellRecord) -> bool:
    """Whether some of the cell's model calls came from the eval cache."""
    hits = (cell.cache or {}).get("hits") or 0
    return isinstance(hits, int | float) and hits > 0


def run_warnings(a: RunRecord, b: RunRecord) -> list[str]:
    """Unfinished runs and partial cells, and cells whose latency is not judged because of cache replays."""
    notes = []
    for name, run in (("A", a), ("B", b)):
        status = getattr(run, "status", None)
        if status not in (None, "complete"):
            notes.append(f"run {name} is {status}, not complete: its metrics cover only the cases it finished")
        notes += [f"run {name}, {c.label}: partial cell" for c in run.cells if getattr(c, "partial", False)]
        notes += [f"run {name}, {c.label}: model calls replayed from the cache, latency shown but not judged"
                  for c in run.cells if replayed(c)]
    return notes


def compare_cells(a: RunRecord, b: RunRecord, old: CellRecord, new: CellRecord, threshold: float,
                  latency_threshold: float | None) -> CellComparison:
    """Metric deltas, case changes and new threshold failures of one matched pair of cells."""
    directions = {**a.metric_directions, **b.metric_directions}
    replay = replayed(old) or replayed(new)
    if replay:
        latency_threshold = None  # replayed model calls take replay time, not model time: latency is not judged
    names = list(dict.fromkeys([*old.numeric_metrics(), *new.numeric_metrics()]))
    metrics = [judge_metric(n, old.metrics.get(n), new.metrics.get(n), metric_direction(n, directions),
                            threshold, latency_threshold) for n in names]
    before = failing_metrics(old, a.thresholds_of(old))
    after = failing_metrics(new, b.thresholds_of(new))
    if replay:
        after = {name for name in after if not is_latency_metric(name)}
    label = old.label if old.key == new.key else f"{old.label} → {new.label}"
    cell_error = new.error if new.error and not old.error else None
    return CellComparison(label=label, key_a=old.key, key_b=new.key, metrics=metrics,
                          cases=compare_cases(old.cases, new.cases),
                          new_threshold_failures=sorted(after - before), cell_error=cell_error)


def check_compatible(a: RunRecord, b: RunRecord, allow_data_change: bool) -> list[str]:
    """Raise IncompatibleRuns for different suites or datasets; return warnings for lesser differences."""
    if a.suite.name != b.suite.name or (a.suite.kind and b.suite.kind and a.suite.kind != b.suite.kind):
        raise IncompatibleRuns(f"different suites: '{a.suite.name}' ({a.suite.kind}) vs '{b.suite.name}' "
                               f"({b.suite.kind}); compare runs of the same suite")
    warnings = []
    sha_a, sha_b = a.suite.data_sha256, b.suite.data_sha256
    if sha_a and sha_b and sha_a != sha_b:
        message = (f"different datasets: {a.suite.data} (sha256 {sha_a[:12]}) vs {b.suite.data} "
                   f"(sha256 {sha_b[:12]})")
        if not allow_data_change:
            raise IncompatibleRuns(f"{message}; metrics are not comparable (allow with --allow-data-change)")
        warnings.append(message + "; compared anyway, cases matched by id")
    elif not (sha_a and sha_b):
        warnings.append("a dataset digest is missing: cannot confirm both runs used the same data")
    return warnings


def match_cells(a: RunRecord, b: RunRecord) -> tuple[list[tuple[CellRecord, CellRecord]], list[str]]:
    """Pairs of cells by (variant, model); a single cell on each side is paired whatever its name."""
    if len(a.cells) == 1 and len(b.cells) == 1:
        old, new = a.cells[0], b.cells[0]
        if old.key == new.key:
            return [(old, new)], []
        return [(old, new)], [f"one cell on each side: comparing {old.label} with {new.label}"]
    new_by_key: dict[tuple[str, str], CellRecord] = {}
    for cell in b.cells:
        new_by_key.setdefault(cell.key, cell)
    pairs = [(cell, new_by_key[cell.key]) for cell in a.cells if cell.key in new_by_key]
    if not pairs:
        raise IncompatibleRuns("no cell in common: A has " + ", ".join(c.label for c in a.cells) + "; B has "
                               + ", ".join(c.label for c in b.cells))
    return pairs, []


def compare_runs(a: dict | RunRecord, b: dict | RunRecord, threshold: float = DEFAULT_THRESHOLD, *,
                 latency_threshold: float | None = DEFAULT_LATENCY_THRESHOLD,
                 allow_data_change: bool = False) -> Comparison:
    """Compare run B (new) against run A (old); RunRecordError or IncompatibleRuns when they cannot be."""
    if threshold < 0 or (latency_threshold is not None and latency_threshold < 0):
        raise InputError("thresholds must be zero or positive")
    old, new = parse_run(a, "run A"), parse_run(b, "run B")
    warnings = check_compatible(old, new, allow_data_change)
    pairs, notes = match_cells(old, new)
    paired_a = {id(x) for x, _ in pairs}
    paired_b = {id(y) for _, y in pairs}
    return Comparison(
        suite=new.suite.name, run_a=old.run_id or "A", run_b=new.run_id or "B", threshold=threshold,
        latency_threshold=latency_threshold, warnings=warnings + notes + run_warnings(old, new),
        cells=[compare_cells(old, new, x, y, threshold, latency_threshold) for x, y in pairs],
        only_in_a=[c.label for c in old.cells if id(c) not in paired_a],
        only_in_b=[c.label for c in new.cells if id(c) not in paired_b])


def compare_command(run_a: Path, run_b: Path, threshold: float = DEFAULT_THRESHOLD,
                    out: Path | None = None, *, latency_threshold: float | None = DEFAULT_LATENCY_THRESHOLD,
                    allow_data_change: bool = False) -> int:
    """Print the comparison, write it to `out` (.md, .html or .json); 1 on regression, 2 on unusable input."""
    from eval.compare_render import WRITERS, render_text

    if out is not None and Path(out).suffix.lower() not in WRITERS:
        print(f"error: --out must end in {', '.join(WRITERS)} (got {out})", file=sys.stderr)
        return 2
    try:
        comparison = compare_runs(load_run(run_a), load_run(run_b), threshold,
                                  latency_threshold=latency_threshold, allow_data_change=allow_data_change)
    except (RunRecordError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render_text(comparison))
    if out is not None:
        try:
            Path(out).write_text(WRITERS[Path(out).suffix.lower()](comparison), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out}: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {out}")
    return 1 if comparison.has_regression else 0


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The compare options (RUN_A RUN_B --threshold --latency-threshold --no-latency-gate
    --allow-data-change --out) on any parser, so every command that compares runs reads the same flags."""
    parser.add_argument("run_a", type=Path, help="old run: a run directory or its result.json")
    parser.add_argument("run_b", type=Path, help="new run: a run directory or its result.json")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="absolute tolerance for scores and rates, relative for counts (default 0.02)")
    parser.add_argument("--latency-threshold", type=float, default=DEFAULT_LATENCY_THRESHOLD,
                        help="relative tolerance for latency metrics (default 0.10 = 10%% slower)")
    parser.add_argument("--no-latency-gate", action="store_true",
                        help="show latency changes, never fail on them")
    parser.add_argument("--allow-data-change", action="store_true",
                        help="compare runs on different datasets (cases matched by id), with a warning")
    parser.add_argument("--out", type=Path, help="also write the comparison as .md, .html or .json")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """compare_command with the options parsed by a parser built with add_arguments."""
    return compare_command(args.run_a, args.run_b, args.threshold, args.out,
                           latency_threshold=None if args.no_latency_gate else args.latency_threshold,
                           allow_data_change=args.allow_data_change)


def main(argv: list[str] | None = None) -> int:
    """python -m eval.compare RUN_A RUN_B [--threshold T] [--latency-threshold L] [--out FILE]."""
    parser = argparse.ArgumentParser(prog="python -m eval.compare",
                                     description="Compare eval run B against run A; exit 1 on a regression, "
                                                 "2 when the runs cannot be compared.")
    return run_from_args(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
