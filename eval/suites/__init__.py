"""Eval suites, one module each. A suite module exposes `NAME`, `Case` (pydantic model of one data line) and
`run(assistant, dataset, **options) -> dict` returning a flat dict of metrics."""

from __future__ import annotations

import importlib
from types import ModuleType

SUITES = ("retrieval", "attributes", "spelling", "intent", "expansion", "agent")


def get_suite(name: str) -> ModuleType:
    """The module implementing a suite; raises KeyError for an unknown name."""
    if name not in SUITES:
        raise KeyError(name)
    return importlib.import_module(f"eval.suites.{name}")
