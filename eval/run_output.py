"""What an eval run shows while it runs and at the end: per-cell progress on stderr and a summary table."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from eval.records import CaseRecord

DEFAULT_COLUMNS = 4


class CellProgress:
    """`[suite | variant | model] done/total cases, errors, seconds` on stderr (one line per case when stderr is
    not a terminal, so logs stay readable)."""

    def __init__(self, label: str, total: int, enabled: bool = True, stream: TextIO | None = None):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream or sys.stderr
        self.done_cases = self.errors = self.failed = 0
        self.started = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, record: CaseRecord) -> None:
        """Count one finished case and show the progress line."""
        self.done_cases += 1
        self.errors += record.error is not None
        self.failed += not record.passed
        if not self.enabled:
            return
        line = (f"[{self.label}] {self.done_cases}/{self.total} cases, {self.failed} not passed, "
                f"{self.errors} errors, {time.perf_counter() - self.started:.0f} s")
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + (f"  {record.id}: {record.error}" if record.error else "") + "\n")
        self.stream.flush()

    def done(self, seconds: float, cache: dict[str, int] | None, error: str | None) -> None:
        """The closing line of the cell."""
        if not self.enabled:
            return
        cached = f", cache {cache['hits']} hits / {cache['misses']} misses" if cache else ""
        status = f"FAILED: {error}" if error else "done"
        prefix = "\n" if self.tty and self.done_cases else ""
        self.stream.write(f"{prefix}[{self.label}] {status} in {seconds:.1f} s{cached}\n")
        self.stream.flush()


def split_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """(numeric metrics and nulls, everything else such as lists of failures and label maps)."""
    numbers: dict[str, float | None] = {}
    details: dict[str, Any] = {}
    for key, value in metrics.items():
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            numbers[key] = value
        else:
            details[key] = value
    return numbers, details


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per cell with passes, errors, cache use, time and the suite's metrics."""
    wanted = list(result["suite"].get("metrics") or [])
    if not wanted and result["cells"]:
        wanted = [m for m in result["cells"][0]["metrics"] if m not in ("cases", "queries")][:DEFAULT_COLUMNS]
    header = ["variant", "model", "passed", "errors", "cache hit/miss", "time s", *wanted]
    rows = []
    for cell in result["cells"]:
        cases = cell["cases"]
        passed = f"{sum(c['passed'] for c in cases)}/{len(cases)}" if cases else "-"
        errors = str(sum(c["error"] is not None for c in cases)) if not cell.get("error") else "cell failed"
        rows.append([cell["variant"], cell["model"], passed, errors,
                     f"{cell['cache']['hits']}/{cell['cache']['misses']}", _fmt(cell["duration_s"]),
                     *(_fmt(cell["metrics"].get(m)) for m in wanted)])
    return header, rows


def summary_table(result: dict[str, Any]) -> str:
    """The summary as aligned plain-text columns."""
    header, rows = summary_rows(result)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
