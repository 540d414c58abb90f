"""Retrieval suite: data lines {"query": str, "relevant": {"<product id>": grade}}; nDCG@10, recall@10/100,
MRR@10 and latency of the catalog search."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field, field_validator

from eval.datasets import Dataset
from eval.metrics import mean, mrr_at, ndcg_at, percentile, recall_at

NAME = "retrieval"


class Case(BaseModel):
    """One query with graded relevance judgements (grade > 0 is relevant)."""

    query: str = Field(min_length=1)
    relevant: dict[str, float]

    @field_validator("relevant", mode="before")
    @classmethod
    def _ids_as_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(v): 1.0 for v in value}
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


def evaluate_case(assistant: Any, case: Case, mode: str) -> tuple[dict[str, float], float, list[str]]:
    """Search one query (top 100) and score it; returns metrics, latency in ms and the ranked ids."""
    start = time.perf_counter()
    analysis = assistant.analyze(case.query, k=100, mode=mode)
    ms = (time.perf_counter() - start) * 1000
    ranked = [hit.product.id for hit in analysis.products]
    metrics = {
        "ndcg@10": ndcg_at(ranked, case.relevant, 10),
        "recall@10": recall_at(ranked, case.relevant, 10),
        "recall@100": recall_at(ranked, case.relevant, 100),
        "mrr@10": mrr_at(ranked, case.relevant, 10),
    }
    return metrics, ms, ranked


def run(assistant: Any, dataset: Dataset[Case], mode: str = "hybrid", **_: Any) -> dict[str, Any]:
    """Score every case; a case that fails is counted as failed (scores 0) and the run goes on."""
    per_case: list[dict[str, float]] = []
    latencies: list[float] = []
    failed = 0
    assistant.analyze("warm up", k=10, mode=mode)
    store = getattr(assistant, "store", None)
    if store is not None:
        store.clear_query_cache()  # each query's latency includes embedding it
    for case in dataset.cases:
        try:
            metrics, ms, _ = evaluate_case(assistant, case, mode)
        except Exception:  # noqa: BLE001 - one bad case must not end the run
            failed += 1
            metrics, ms = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0), 0.0
        per_case.append(metrics)
        latencies.append(ms)
    result: dict[str, Any] = {name: round(mean([m[name] for m in per_case]), 4) for name in per_case[0]}
    result.update({
        "queries": len(dataset.cases),
        "failed": failed,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "mode": mode,
    })
    return result
