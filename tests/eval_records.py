"""Hand-made eval run records (result.json) for the report and compare tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SCHEMA = "shopquery.eval.run/1"


def case(case_id: str, passed: bool = True, latency: float | None = 100.0, output: Any = None,
         failures: list[str] | None = None, error: str | None = None, labels: dict | None = None,
         query: str = "蓝色T恤 50元以内") -> dict[str, Any]:
    """One case record."""
    return {"id": case_id, "passed": passed, "error": error, "scores": {"intent": passed},
            "latency_ms": latency,
            "input": query, "expected": {"intent": "search"},
            "output": output if output is not None else {"reply": "为您找到蓝色T恤", "products": ["tb-1"]},
            "labels": labels, "failures": failures if failures is not None else ([] if passed else ["wrong"])}


def cell(variant: str = "default", model: str = "embedded:qwen2.5-coder-0.5b", metrics: dict | None = None,
         cases: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    """One cell record."""
    variant_file = None if variant == "default" else f"prompts/variants/{variant}.yaml"
    return {"variant": variant, "variant_file": variant_file,
            "model": model, "model_info": {"backend": model.split(":")[0], "name": model.split(":")[-1]},
            "prompt_hashes": {"reply/products/zh": f"{variant}-hash-0001",
                              "agent/system/en": "shared-hash-0002"},
            "duration_s": 12.5, "cache": {"hits": 0, "misses": 10},
            "metrics": metrics if metrics is not None else {"pass_rate": 0.9, "fallback_rate": 0.1,
                                                            "turn_ms_p50": 900.0},
            "threshold_failures": [],
            "cases": cases if cases is not None else [case("c1"), case("c2")], **extra}


def run(cells: list[dict] | None = None, suite: str = "agent", data_sha: str = "a" * 64,
        **extra: Any) -> dict[str, Any]:
    """A whole run record."""
    return {"schema": SCHEMA, "run_id": f"20261129-021500-{suite}", "created": "2026-11-29T02:15:00Z",
            "suite": {"name": suite, "kind": suite, "file": f"eval/suites/{suite}.yaml",
                      "data": f"eval/data/{suite}_dev.jsonl", "data_sha256": data_sha, "cases": 2,
                      "thresholds": {"pass_rate": {"min": 0.85}, "turn_ms_p50": {"max": 4000}}},
            "metric_directions": {"pass_rate": "higher", "fallback_rate": "lower", "turn_ms_p50": "lower"},
            "cells": cells if cells is not None else [cell()], **extra}


def variant(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a record with top-level fields replaced."""
    out = copy.deepcopy(record)
    out.update(changes)
    return out


def write(directory: Path, record: dict[str, Any]) -> Path:
    """Write record as DIRECTORY/result.json and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "result.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return directory
