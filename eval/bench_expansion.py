"""Benchmark: latency of query expansion against plain search, in one run on the same store and queries.

Rows (median and p95 ms per query, query embeddings not cached between rows):
* plain search        - the fast path without expansion (k=10)
* expand uncached     - QueryExpander.expand on an empty rewrite cache (lexicon + query log + verification)
* expand cached       - the same call again (rewrites read from the cache)
* fast path, cold     - the fast path with the expander, nothing cached (search + expand + fused searches)
* fast path, warm     - the same query again (verified rewrites cached)

    .venv/bin/python eval/bench_expansion.py [--data eval/data/retrieval_dev.jsonl] [--catalog FILE] [--json]

Latency figures depend on the machine's load: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.app import Assistant  # noqa: E402
from assistant.fast_path import analyze_query  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from eval.datasets import load_jsonl  # noqa: E402
from eval.harness import assistant_for_catalog  # noqa: E402
from eval.metrics import percentile  # noqa: E402
from eval.suites import expansion  # noqa: E402

ROWS = ("plain search", "expand uncached", "expand cached", "fast path, cold", "fast path, warm")


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call in ms."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(assistant, expander, queries: list[str]) -> dict[str, list[float]]:
    """Per-query latencies of every row; caches are emptied where a row says 'uncached' or 'cold'."""
    store, settings = assistant.store, assistant.settings
    parser = assistant.attribute_parser if settings.parse_attributes else None
    corrector = assistant.corrector if settings.correct_spelling else None

    def analyze(query: str, with_expander: bool) -> object:
        return analyze_query(store, query, max_chars=settings.max_query_chars, k=10, parser=parser,
                             corrector=corrector, expander=expander if with_expander else None)

    times: dict[str, list[float]] = {row: [] for row in ROWS}
    for query in queries:
        store.clear_query_cache()
        times["plain search"].append(timed(lambda q=query: analyze(q, False)))
        expander.forget()
        store.clear_query_cache()
        times["expand uncached"].append(timed(lambda q=query: expander.expand(q)))
        times["expand cached"].append(timed(lambda q=query: expander.expand(q)))
        expander.forget()
        store.clear_query_cache()
        times["fast path, cold"].append(timed(lambda q=query: analyze(q, True)))
        store.clear_query_cache()
        times["fast path, warm"].append(timed(lambda q=query: analyze(q, True)))
    return times


def main() -> int:
    """Run every row and print the table (or one JSON object)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("eval/data/retrieval_dev.jsonl"))
    parser.add_argument("--catalog", type=Path, help="a catalog file (default: the store in DATA_DIR, demo if empty)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.catalog is not None:
        assistant, info = assistant_for_catalog(load_settings(), args.catalog, progress=not args.json)
    else:
        assistant = Assistant(load_settings())
        assistant.ensure_catalog(progress=not args.json)
        info = {"catalog": str(assistant.settings.catalog_dir), "catalog_products": assistant.store.count()}
    expander = expansion.make_expander(assistant)
    _ = expander.query_log.vectors
    queries = [c.query for c in load_jsonl(args.data, expansion.Case).cases]
    measure(assistant, expander, queries[:3])  # warm up the models and indexes
    times = measure(assistant, expander, queries)
    result = {row: {"p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2)}
              for row, v in times.items()}
    result["info"] = {**info, "queries": len(queries), "data": str(args.data),
                      "log_queries": len(expander.query_log.texts)}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{len(queries)} queries from {args.data}; {info['catalog_products']} products; "
          f"query log {len(expander.query_log.texts)} queries")
    base = result["plain search"]["p50_ms"]
    print(f"{'':<18}{'p50 ms':>10}{'p95 ms':>10}{'p50 / plain':>13}")
    for row in ROWS:
        p50, p95 = result[row]["p50_ms"], result[row]["p95_ms"]
        print(f"{row:<18}{p50:>10.2f}{p95:>10.2f}{p50 / base if base else float('nan'):>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
