"""Benchmark: retrieval quality and speed of hybrid search against BM25 alone and dense vectors alone (all three on
the raw query), and of the full fast path (spelling + attributes as filters + hybrid), in one run on the same store
and queries; plus the latency of filtered queries.

    .venv/bin/python eval/bench_retrieval.py --data eval/data/retrieval_test.jsonl \
        [--catalog assistant/data/demo_catalog.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.app import DEMO_CATALOG  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from eval.datasets import load_jsonl  # noqa: E402
from eval.harness import assistant_for_catalog  # noqa: E402
from eval.metrics import percentile  # noqa: E402
from eval.suites import retrieval  # noqa: E402
from tools.core.types import SearchFilters  # noqa: E402

MODES = ("bm25", "dense", "hybrid", "fast path")
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "p50_ms", "p95_ms")


def filtered_latency(assistant, queries: list[str], repeat: int = 1) -> dict[str, float]:
    """p50/p95 ms of hybrid search with a price ceiling at the catalog's median price, and with a brand filter."""
    index = assistant.store.index
    prices = sorted(p.price for p in index.products if p.price is not None)
    median = prices[len(prices) // 2] if prices else 100.0
    brands = [p.brand for p in index.products if p.brand][:1] or ["none"]
    out = {}
    for label, filters in (("price<=median", SearchFilters(price_max=median)),
                           ("brand", SearchFilters(brands=brands))):
        times = []
        for _ in range(repeat):
            for q in queries:
                assistant.store.clear_query_cache()
                start = time.perf_counter()
                assistant.analyze(q, k=10, filters=filters)
                times.append((time.perf_counter() - start) * 1000)
        out[f"{label} p50_ms"] = round(percentile(times, 50), 2)
        out[f"{label} p95_ms"] = round(percentile(times, 95), 2)
    return out


def main() -> int:
    """Run all three modes and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    plain, info = assistant_for_catalog(load_settings(parse_attributes=False, correct_spelling=False), args.catalog,
                                        progress=not args.json)
    full, _ = assistant_for_catalog(load_settings(parse_attributes=True, correct_spelling=True), args.catalog)
    full.warm_up()
    dataset = load_jsonl(args.data, retrieval.Case)
    results = {mode: retrieval.run(plain, dataset, mode=mode) for mode in MODES[:3]}
    results["fast path"] = retrieval.run(full, dataset, mode="hybrid")
    results["filtered"] = filtered_latency(plain, [c.query for c in dataset.cases])
    results["info"] = {**info, "queries": len(dataset.cases), "data": str(args.data)}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    print(f"{len(dataset.cases)} queries from {args.data}; catalog {args.catalog} ({info['catalog_products']} products)")
    print(f"{'metric':<12}" + "".join(f"{m:>11}" for m in MODES) + "".join(
        f"{r:>11}" for r in ("hyb/bm25", "hyb/dense", "fast/bm25")))
    for metric in METRICS:
        row = [results[m][metric] for m in MODES]
        ratios = [row[i] / row[j] if row[j] else float("nan") for i, j in ((2, 0), (2, 1), (3, 0))]
        print(f"{metric:<12}" + "".join(f"{v:>11.4g}" for v in row) + "".join(f"{r:>11.2f}" for r in ratios))
    for key, value in results["filtered"].items():
        print(f"filtered hybrid {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
