"""The eval run record (`result.json`, schema `shopquery.eval.run/1`): typed, lenient reading, shared helpers.

Reading is forgiving about optional fields (missing or null values get defaults) and strict about the schema
name, so that reports and comparisons render for partial runs but refuse files of an incompatible version.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eval import records
from tools.core.errors import InputError

SCHEMA_NAME = "shopquery.eval.run"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
RESULT_FILE = "result.json"
CELL_FAILED = "cell failed"  # how a runner's threshold failure says the whole cell could not run

# Metrics that describe the run rather than its quality: shown, never judged better or worse.
INFO_METRICS = frozenset({"cases", "turns", "queries", "llm_queries", "model_tool_calls", "tool_calls",
                          "catalog_products", "ingest_skipped", "rejected_lines"})
# Name prefixes of metrics where less is better (fallback_rate, false_correction_rate, errors, failed, ...).
LOWER_PREFIXES = ("fallback", "false_", "error", "fail", "timeout", "reject", "missed", "wrong")

Direction = Literal["higher", "lower"]


class RunRecordError(InputError):
    """A run record cannot be read: missing, not JSON, another schema, or fields of the wrong type."""


def _none_to_empty(value: Any, empty: Any) -> Any:
    return empty if value is None else value


class RecordedCase(records.CaseRecord):
    """One case of one cell as read back from a run record: the runner's case record, lenient about what an
    older or hand-made record leaves out (a missing `passed` is a fail, `labels` may be absent)."""

    model_config = ConfigDict(extra="allow")

    passed: bool = False
    labels: dict[str, Any] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("scores", mode="before")
    @classmethod
    def _scores(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("failures", mode="before")
    @classmethod
    def _failures(cls, value: Any) -> Any:
        value = _none_to_empty(value, [])
        return [value] if isinstance(value, str) else [str(v) for v in value]

    @property
    def status(self) -> str:
        """'pass', 'fail' or 'error'."""
        return "pass" if self.passed else ("error" if self.error else "fail")


class CellRecord(BaseModel):
    """One cell of the matrix: a prompt variant run with one model over the whole dataset."""

    model_config = ConfigDict(extra="allow")

    variant: str = "default"
    variant_file: str | None = None
    model: str = "unknown"
    model_info: dict[str, Any] = Field(default_factory=dict)
    prompt_hashes: dict[str, str] = Field(default_factory=dict)
    duration_s: float | None = None
    cache: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    threshold_failures: list[str] = Field(default_factory=list)
    error: str | None = Field(None, description="why the whole cell could not run (its cases are then empty)")
    thresholds: dict[str, dict[str, float | None]] | None = Field(None, description="this cell's own (row) "
                                                                                    "thresholds, if any")
    details: dict[str, Any] = Field(default_factory=dict, description="non-numeric metrics (per-label maps…)")
    cases: list[RecordedCase] = Field(default_factory=list)

    @field_validator("variant", "model", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return _none_to_empty(value, "unknown")

    @field_validator("model_info", "prompt_hashes", "cache", "metrics", "details", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("threshold_failures", "cases", mode="before")
    @classmethod
    def _sequence(cls, value: Any) -> Any:
        return _none_to_empty(value, [])

    @property
    def key(self) -> tuple[str, str]:
        """(variant, model): how cells are matched across runs."""
        return self.variant, self.model

    @property
    def label(self) -> str:
        """A short human name for the cell."""
        return f"{self.variant} × {self.model}"

    def tally(self) -> dict[str, int]:
        """Cases passed, failed (without error) and errored."""
        statuses = [c.status for c in self.cases]
        return {s: statuses.count(s) for s in ("pass", "fail", "error")}

    def cache_hit_rate(self) -> float | None:
        """Share of cache look-ups that hit (None when nothing was looked up)."""
        hits, misses = self.cache.get("hits"), self.cache.get("misses")
        if not (is_number(hits) and is_number(misses)) or hits + misses <= 0:
            return None
        return hits / (hits + misses)

    def numeric_metrics(self) -> dict[str, float | None]:
        """Metrics that are numbers or null (nested values such as per-label dicts are left out)."""
        return {k: v for k, v in self.metrics.items() if v is None or is_number(v)}


class SuiteInfo(BaseModel):
    """What was run: suite, dataset and its digest, thresholds."""

    model_config = ConfigDict(extra="allow")

    name: str = "unknown"
    kind: str | None = None
    file: str | None = None
    data: str | None = None
    data_sha256: str | None = None
    cases: int | None = None
    thresholds: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list)
    headline: list[str] = Field(default_factory=list)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("metrics", "headline", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else []


class RunRecord(BaseModel):
    """A whole eval run as written to result.json."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_name: str = Field(alias="schema")
    run_id: str | None = None
    created: str | None = None
    suite: SuiteInfo = Field(default_factory=SuiteInfo)
    metric_directions: dict[str, Direction] = Field(default_factory=dict)
    cells: list[CellRecord] = Field(default_factory=list)
    status: str | None = None
    baseline: dict[str, Any] | None = Field(None, description="the run this one was compared with: run_id, path")

    @field_validator("suite", mode="before")
    @classmethod
    def _suite(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("metric_directions", "cells", mode="before")
    @classmethod
    def _containers(cls, value: Any, info: Any) -> Any:
        return _none_to_empty(value, {} if info.field_name == "metric_directions" else [])

    def headline_metrics(self) -> list[str]:
        """The metrics of the first screen: the suite's headline, else its first three metrics, else the first
        three judged metrics of the cells."""
        names = self.suite.headline or self.suite.metrics[:3]
        if not names:
            names = [n for n in self.metric_names() if self.direction(n) is not None][:3]
        return list(dict.fromkeys(names))

    def thresholds_of(self, cell: CellRecord) -> dict[str, dict[str, float | None]]:
        """The thresholds that apply to a cell (its row's when it has them, else the suite's)."""
        return cell.thresholds if cell.thresholds is not None else self.suite.thresholds

    def metric_names(self) -> list[str]:
        """Every numeric metric name in any cell, in first-seen order."""
        names: dict[str, None] = {}
        for cell in self.cells:
            names.update(dict.fromkeys(cell.numeric_metrics()))
        return list(names)

    def direction(self, name: str) -> Direction | None:
        """The declared direction of a metric, else the naming rule (None for informational metrics)."""
        return metric_direction(name, self.metric_directions)


def check_schema(raw: Any, where: str) -> None:
    """Raise RunRecordError unless `raw` is a JSON object carrying a schema this version reads."""
    if not isinstance(raw, dict):
        raise RunRecordError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    schema = raw.get("schema")
    if schema is None:
        raise RunRecordError(f"{where}: no 'schema' field; not a shopquery eval run record ({SCHEMA})")
    name, _, version = str(schema).partition("/")
    if name != SCHEMA_NAME:
        raise RunRecordError(f"{where}: schema '{schema}' is not a shopquery eval run record ({SCHEMA})")
    if version != str(SCHEMA_VERSION):
        raise RunRecordError(f"{where}: schema version '{version}' is not supported; this version of "
                             f"shopquery reads {SCHEMA} (re-run the eval, or use the matching shopquery)")


def parse_run(raw: Any, where: str = "run record") -> RunRecord:
    """Validate a decoded result.json; raises RunRecordError naming the first bad fields."""
    if isinstance(raw, RunRecord):
        return raw
    check_schema(raw, where)
    try:
        return RunRecord.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise RunRecordError(f"{where}: invalid run record: {problems}") from None


def result_path(path: Path) -> Path:
    """result.json inside a run directory, or the file itself."""
    path = Path(path)
    return path / RESULT_FILE if path.is_dir() else path


def load_run(path: Path) -> RunRecord:
    """Read a run record from a run directory or a result.json path."""
    file = result_path(path)
    if not file.is_file():
        raise RunRecordError(f"{file}: no such run record (pass a run directory or its {RESULT_FILE})")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RunRecordError(f"{file}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise RunRecordError(f"{file}: not valid JSON ({where})") from None
    return parse_run(raw, str(file))


def is_number(value: Any) -> bool:
    """A finite int or float (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_latency_metric(name: str) -> bool:
    """Latency or duration: 'ms' as a word of the name (p50_ms, turn_ms_p50) or a name ending in '_s'."""
    words = name.lower().replace("@", "_").replace(" ", "_").split("_")
    return "ms" in words or name.lower().endswith("_s")


def metric_direction(name: str, declared: dict[str, Direction] | None = None) -> Direction | None:
    """None for run facts (INFO_METRICS, even if declared); else the declared direction; else lower for
    latency and failure-like names (LOWER_PREFIXES), higher for the rest."""
    if name in INFO_METRICS:
        return None
    if declared and name in declared:
        return declared[name]
    if is_latency_metric(name) or name.lower().startswith(LOWER_PREFIXES):
        return "lower"
    return "higher"


def format_value(value: Any) -> str:
    """A compact human form of a metric value ('—' for null)."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.4g}"


def as_text(value: Any, limit: int | None = None) -> str:
    """Case data (a string, list of messages or JSON value) as one text, cut to `limit` characters."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = " ⏎ ".join(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def as_pretty(value: Any, limit: int = 4000) -> str:
    """Case data as indented JSON (strings as they are), cut to `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failing_metrics(cell: CellRecord, thresholds: dict[str, dict[str, float | None]]) -> set[str]:
    """Metrics of a cell that fail a threshold: as the runner recorded, and checked against the suite's."""
    failing = {f.split()[0] for f in cell.threshold_failures if f.strip() and not f.startswith(CELL_FAILED)}
    for name, bounds in thresholds.items():
        value = cell.metrics.get(name)
        if not is_number(value):
            continue
        low, high = bounds.get("min"), bounds.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            failing.add(name)
    return failing


def threshold_failure_texts(cell: CellRecord, thresholds: dict[str, dict[str, float | None]]) -> list[str]:
    """The runner's threshold failures of a cell plus any it did not record, one line each."""
    failures = [f for f in cell.threshold_failures if f.strip()]
    if cell.error and not any(f.startswith(CELL_FAILED) for f in failures):
        failures.insert(0, f"{CELL_FAILED}: {cell.error}")
    recorded = {f.split()[0] for f in failures}
    for name in sorted(failing_metrics(cell, thresholds) - recorded):
        value = format_value(cell.metrics.get(name))
        failures.append(f"{name} {value} outside {threshold_text(thresholds.get(name, {}))}")
    return failures


def threshold_text(bounds: dict[str, float | None]) -> str:
    """'≥ 0.85', '≤ 4000' or both."""
    parts = []
    if bounds.get("min") is not None:
        parts.append(f"≥ {format_value(bounds['min'])}")
    if bounds.get("max") is not None:
        parts.append(f"≤ {format_value(bounds['max'])}")
    return ", ".join(parts) or "—"
