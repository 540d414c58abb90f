"""Typed results of a suite run: one record per case plus the aggregate metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

CaseCallback = Callable[["CaseRecord"], None]


class CaseRecord(BaseModel):
    """What one case produced and how it scored (`error` is set when the case raised)."""

    id: str
    passed: bool
    error: str | None = None
    scores: dict[str, Any] = Field(default_factory=dict)
    latency_ms: float | None = None
    input: Any = None
    expected: Any = None
    output: Any = None
    labels: dict[str, Any] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)


class SuiteResult(BaseModel):
    """Aggregate metrics (the suite's `run` dict) and the per-case records they were computed from."""

    metrics: dict[str, Any]
    cases: list[CaseRecord]


def case_id(case: Any, index: int, prefix: str) -> str:
    """The case's own id when it has one, else `<prefix>-<line number>` (1-based)."""
    own = getattr(case, "id", None)
    return str(own) if own else f"{prefix}-{index + 1:04d}"


def error_text(exc: BaseException) -> str:
    """`<ExceptionType>: message`, kept short."""
    return f"{type(exc).__name__}: {exc}"[:300]


def notify(callback: CaseCallback | None, record: CaseRecord) -> CaseRecord:
    """Hand a finished record to the progress callback (if any) and return it."""
    if callback is not None:
        callback(record)
    return record
