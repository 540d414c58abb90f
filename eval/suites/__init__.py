"""Eval suites, one module each. A suite module exposes `NAME`, `Case` (pydantic model of one data line),
`run_cases(assistant, dataset, on_case=None, **options) -> SuiteResult` (per-case records plus the aggregate
metrics; `on_case` is called with each finished record) and `run(assistant, dataset, **options) -> dict`
returning the flat dict of metrics. Suite files (`<name>.yaml` here) declare runs of them (see eval/specs.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

SUITES = ("retrieval", "attributes", "spelling", "intent", "expansion", "agent")


def get_suite(name: str) -> ModuleType:
    """The module implementing a suite; raises KeyError for an unknown name."""
    if name not in SUITES:
        raise KeyError(name)
    return importlib.import_module(f"eval.suites.{name}")
