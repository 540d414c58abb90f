"""Retrieval suite: data lines {"query": str, "relevant": {"<product id>": grade}}; nDCG@10, recall@10/100,
MRR@10 and latency of the catalog search."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field, field_validator

from eval.datasets import Dataset
from eval.metrics import mean, mrr_at, ndcg_at, percentile, recall_at
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify

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


def _record(case: Case, index: int, metrics: dict[str, float], ms: float, ranked: list[str],
            error: str | None) -> CaseRecord:
    """A case passes when a relevant product is in the top 10."""
    return CaseRecord(id=case_id(case, index, NAME), passed=error is None and metrics["mrr@10"] > 0, error=error,
                      scores={k: round(v, 4) for k, v in metrics.items()}, latency_ms=round(ms, 2),
                      input=case.query, expected=case.relevant, output={"ranked": ranked[:20]},
                      failures=[] if error or metrics["mrr@10"] > 0 else ["no relevant product in the top 10"])


def run_cases(assistant: Any, dataset: Dataset[Case], mode: str = "hybrid", on_case: CaseCallback | None = None,
              **_: Any) -> SuiteResult:
    """Score every case; a case that fails is counted as failed (scores 0) and the run goes on."""
    records: list[CaseRecord] = []
    assistant.analyze("warm up", k=10, mode=mode)
    store = getattr(assistant, "store", None)
    if store is not None:
        store.clear_query_cache()  # each query's latency includes embedding it
    for index, case in enumerate(dataset.cases):
        error = None
        try:
            metrics, ms, ranked = evaluate_case(assistant, case, mode)
        except Exception as exc:  # noqa: BLE001 - one bad case must not end the run
            error, ranked = error_text(exc), []
            metrics, ms = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0), 0.0
        records.append(notify(on_case, _record(case, index, metrics, ms, ranked, error)))
    latencies = [r.latency_ms or 0.0 for r in records]
    result: dict[str, Any] = {name: round(mean([r.scores[name] for r in records]), 4) for name in records[0].scores}
    result.update({
        "queries": len(dataset.cases),
        "failed": sum(r.error is not None for r in records),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "mode": mode,
    })
    return SuiteResult(metrics=result, cases=records)


def run(assistant: Any, dataset: Dataset[Case], mode: str = "hybrid", **options: Any) -> dict[str, Any]:
    """Score every case; a case that fails is counted as failed (scores 0) and the run goes on."""
    return run_cases(assistant, dataset, mode=mode, **options).metrics
