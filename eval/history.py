"""Past eval runs: the run records under the eval-runs folder (`DATA_DIR/eval-runs/<run>/result.json`, or one
level deeper for runs of several suites), listed per suite with their headline metrics, data digest, prompt-set
digest and model; and the baseline a new run is compared with by default (the latest earlier run of its suite)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from eval.report import prompt_set_digest
from eval.report_record import RESULT_FILE, RunRecord, RunRecordError, format_value, load_run


class CellSummary(BaseModel):
    """One cell of a past run: its names, prompt-set digest and headline values."""

    variant: str
    model: str
    prompts: str
    headline: dict[str, float | None] = Field(default_factory=dict)
    error: str | None = None


class RunSummary(BaseModel):
    """One past run, as `eval history` lists it."""

    path: Path
    run_id: str
    created: str
    status: str
    suite: str
    data_sha256: str | None
    cases: int | None
    headline: list[str]
    cells: list[CellSummary]
    baseline: str | None = Field(None, description="the run id this run was compared with")


def runs_folder(settings: Any) -> Path:
    """Where `eval run` writes runs by default."""
    return Path(settings.data_dir) / "eval-runs"


def record_files(folder: Path) -> list[Path]:
    """Every result.json one or two levels below `folder`."""
    if not folder.is_dir():
        return []
    return sorted({*folder.glob(f"*/{RESULT_FILE}"), *folder.glob(f"*/*/{RESULT_FILE}")})


def summarise(path: Path, run: RunRecord) -> RunSummary:
    """The history line(s) of one run record."""
    names = run.headline_metrics()
    cells = [CellSummary(variant=c.variant, model=c.model, prompts=prompt_set_digest(c.prompt_hashes),
                         headline={n: c.metrics.get(n) for n in names}, error=c.error) for c in run.cells]
    baseline = (run.baseline or {}).get("run_id")
    return RunSummary(path=path.parent, run_id=run.run_id or path.parent.name, created=run.created or "",
                      status=run.status or "unknown", suite=run.suite.name, data_sha256=run.suite.data_sha256,
                      cases=run.suite.cases, headline=names, cells=cells,
                      baseline=str(baseline) if baseline else None)


def find_runs(folder: Path, suite: str | None = None, quiet: bool = False) -> list[RunSummary]:
    """Runs under `folder` (of one suite when named), newest first; unreadable records are noted and skipped."""
    found = []
    for file in record_files(folder):
        try:
            run = load_run(file)
        except RunRecordError as exc:
            if not quiet:
                print(f"(skipped {file}: {exc})", file=sys.stderr)
            continue
        if suite is None or run.suite.name == suite:
            found.append(summarise(file, run))
    return sorted(found, key=lambda r: (r.created, r.run_id), reverse=True)


def latest_before(folder: Path, suite: str, created: str, exclude: Path) -> Path | None:
    """The newest complete run of `suite` created before `created` (not `exclude`): the default baseline."""
    exclude = exclude.resolve()
    for summary in find_runs(folder, suite, quiet=True):
        if summary.status == "complete" and summary.created < created and summary.path.resolve() != exclude:
            return summary.path
    return None


def history_table(runs: list[RunSummary]) -> str:
    """One line per cell of each run, newest run first, as aligned text columns."""
    metrics = list(dict.fromkeys(m for r in runs for m in r.headline))
    header = ["run", "created", "status", "data", "cell", "model", "prompts", *metrics, "compared with"]
    rows = []
    for run in runs:
        for cell in run.cells or [CellSummary(variant="—", model="—", prompts="—")]:
            values = [format_value(cell.headline.get(m)) if m in cell.headline else "" for m in metrics]
            rows.append([run.run_id, run.created, run.status, (run.data_sha256 or "—")[:12], cell.variant,
                         cell.model, cell.prompts, *values, run.baseline or "—"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def history_json(runs: list[RunSummary]) -> str:
    """The runs as one JSON array."""
    return json.dumps([r.model_dump(mode="json") for r in runs], ensure_ascii=False, indent=1)
