"""Expansion suite: data lines as the retrieval suite's ({"query", "relevant": {"<product id>": grade}}, optional
"lang"). Runs the fast path on every query WITHOUT and WITH verified expansions (lexicon + query log + cached
rewrites; the LLM only with `llm_sample`) and reports nDCG@10, recall@10/100 and MRR@10 of both, the share of
queries expanded, rewrites per expanded query, and ms per query (query embeddings never cached; cold: no rewrite
cached; warm: verified rewrites cached).

    .venv/bin/python -m eval.suites.expansion --data eval/data/retrieval_dev.jsonl [--llm-sample 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any

from eval.datasets import Dataset
from eval.metrics import mean, mrr_at, ndcg_at, percentile, recall_at
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify
from eval.suites.retrieval import Case as RetrievalCase

NAME = "expansion"
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


class Case(RetrievalCase):
    """One query with graded relevance judgements and, optionally, its language."""

    lang: str | None = None


def score(ranked: list[str], relevant: dict[str, float]) -> dict[str, float]:
    """The retrieval metrics of one ranking."""
    return {"ndcg@10": ndcg_at(ranked, relevant, 10), "recall@10": recall_at(ranked, relevant, 10),
            "recall@100": recall_at(ranked, relevant, 100), "mrr@10": mrr_at(ranked, relevant, 10)}


def make_expander(assistant: Any, chat_model: Any = None) -> Any:
    """An expander over the assistant's store with a cache kept in memory (so every run starts cold)."""
    from tools.expansion import QueryExpander
    from tools.expansion_cache import ExpansionCache
    from tools.expansion_lexicon import load_lexicon
    from tools.querylog import DEFAULT_LOGS, QueryLog

    store = assistant.store
    log = QueryLog.from_files(DEFAULT_LOGS, assistant.embedder, assistant.settings.data_dir / "expansion")
    return QueryExpander(store, assistant.embedder, load_lexicon(products=store.index.products), log,
                         ExpansionCache(None), chat_model=chat_model, prompts=assistant.prompts)


def _analyze(assistant: Any, query: str, expander: Any = None) -> tuple[list[str], float, int]:
    from assistant.fast_path import analyze_query

    settings = assistant.settings
    parser = assistant.attribute_parser if settings.parse_attributes else None
    corrector = assistant.corrector if settings.correct_spelling else None
    start = time.perf_counter()
    analysis = analyze_query(assistant.store, query, max_chars=settings.max_query_chars, k=100, parser=parser,
                             corrector=corrector, expander=expander)
    ms = (time.perf_counter() - start) * 1000
    return [h.product.id for h in analysis.products], ms, len(analysis.expansions)


def _summary(rows: list[dict[str, float]], prefix: str) -> dict[str, float]:
    return {f"{prefix}{m}": round(mean([r[m] for r in rows]), 4) for m in METRICS}


def _llm_pass(assistant: Any, expander: Any, cases: list[Case]) -> dict[str, Any]:
    """Ask the LLM for rewrites of the first cases (verified and cached), then score the fast path again."""
    times, accepted = [], 0
    for case in cases:
        start = time.perf_counter()
        result = expander.expand(case.query, use_llm=True)
        times.append((time.perf_counter() - start) * 1000)
        accepted += sum(1 for r in result.accepted if r.source == "llm")
    rows = [score(_analyze(assistant, c.query, expander)[0], c.relevant) for c in cases]
    return {**_summary(rows, "llm_with_"), "llm_queries": len(cases), "llm_rewrites_accepted": accepted,
            "llm_expand_p50_ms": round(percentile(times, 50), 1)}


def _one_case(assistant: Any, expander: Any, case: Case) -> tuple[list[str], list[str], dict[str, float], int]:
    """(ranking without, ranking with, latencies, rewrites) of one query; every timing embeds the query again;
    "warm" finds the verified rewrites cached."""
    assistant.store.clear_query_cache()
    base, base_ms, _ = _analyze(assistant, case.query)
    assistant.store.clear_query_cache()
    plus, cold_ms, n = _analyze(assistant, case.query, expander)
    assistant.store.clear_query_cache()
    expander.forget(rewrites=False)
    _, warm_ms, _ = _analyze(assistant, case.query, expander)
    return base, plus, {"without": base_ms, "cold": cold_ms, "warm": warm_ms}, n


def _record(case: Case, index: int, without: dict[str, float], with_: dict[str, float], ms: dict[str, float],
            n: int, plus: list[str], error: str | None) -> CaseRecord:
    """A case passes when expansion does not lower its nDCG@10."""
    ok = error is None and with_["ndcg@10"] >= without["ndcg@10"]
    return CaseRecord(
        id=case_id(case, index, NAME), passed=ok, error=error,
        scores={**{f"without_{k}": round(v, 4) for k, v in without.items()},
                **{f"with_{k}": round(v, 4) for k, v in with_.items()}, "rewrites": n},
        latency_ms=round(ms["cold"], 2), input=case.query, expected=case.relevant,
        output={"ranked_with": plus[:20], "rewrites": n}, labels={"lang": case.lang} if case.lang else {},
        failures=[] if ok or error else [f"nDCG@10 {without['ndcg@10']:.3f} -> {with_['ndcg@10']:.3f}"])


def run_cases(assistant: Any, dataset: Dataset[Case], llm_sample: int = 0, on_case: CaseCallback | None = None,
              **_: Any) -> SuiteResult:
    """Score every case without and with expansions (a failing case scores 0 in both and is counted)."""
    start = time.perf_counter()
    expander = make_expander(assistant, assistant.chat_model if llm_sample else None)
    _ = expander.query_log.vectors  # embedded once (or read from DATA_DIR/expansion)
    _analyze(assistant, "warm up", expander)
    setup_s = time.perf_counter() - start
    expander.cache.clear_memory()
    per: dict[str, list[dict[str, float]]] = defaultdict(list)
    lat: dict[str, list[float]] = defaultdict(list)
    records: list[CaseRecord] = []
    for index, case in enumerate(dataset.cases):
        error = None
        try:
            base, plus, ms, n = _one_case(assistant, expander, case)
        except Exception as exc:  # noqa: BLE001 - one bad case must not end the run
            error, base, plus, n = error_text(exc), [], [], 0
            ms = {"without": 0.0, "cold": 0.0, "warm": 0.0}
        without, with_ = score(base, case.relevant), score(plus, case.relevant)
        for lang in ("all", case.lang or "?"):
            per[f"{lang}:without"].append(without)
            per[f"{lang}:with"].append(with_)
        for name, value in ms.items():
            lat[name].append(value)
        records.append(notify(on_case, _record(case, index, without, with_, ms, n, plus, error)))
    result: dict[str, Any] = {**_summary(per["all:without"], "without_"), **_summary(per["all:with"], "with_")}
    for lang in sorted({c.lang for c in dataset.cases if c.lang}):
        for which in ("without", "with"):
            result.update(_summary(per[f"{lang}:{which}"], f"{lang}_{which}_"))
    n_cases = len(dataset.cases)
    expanded = sum(1 for r in records if r.scores["rewrites"])
    rewrites = sum(r.scores["rewrites"] for r in records)
    result.update({
        "queries": n_cases, "failed": sum(r.error is not None for r in records),
        "expanded_share": round(expanded / max(n_cases, 1), 4),
        "rewrites_per_expanded_query": round(rewrites / max(expanded, 1), 2),
        "setup_s": round(setup_s, 1),
        **{f"{name}_p50_ms": round(percentile(v, 50), 2) for name, v in lat.items()},
        **{f"{name}_p95_ms": round(percentile(v, 95), 2) for name, v in lat.items()},
    })
    if llm_sample:
        sample = dataset.cases[:llm_sample]
        base_rows = [score(_analyze(assistant, c.query)[0], c.relevant) for c in sample]
        lex_rows = [score(_analyze(assistant, c.query, expander)[0], c.relevant) for c in sample]
        result.update({**_summary(base_rows, "llm_sample_without_"), **_summary(lex_rows, "llm_sample_with_"),
                       **_llm_pass(assistant, expander, sample)})
    return SuiteResult(metrics=result, cases=records)


def run(assistant: Any, dataset: Dataset[Case], llm_sample: int = 0, **options: Any) -> dict[str, Any]:
    """Score every case without and with expansions (a failing case scores 0 in both and is counted)."""
    return run_cases(assistant, dataset, llm_sample=llm_sample, **options).metrics


def main() -> int:
    """Run the suite from the command line (demo catalog in DATA_DIR, or --catalog)."""
    from pathlib import Path

    from assistant.settings import load_settings
    from eval.harness import run_suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--llm-sample", type=int, default=0, help="also ask the LLM for the first N queries")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_suite(load_settings(), NAME, args.data, args.catalog, progress=not args.json,
                       llm_sample=args.llm_sample)
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
