"""Benchmark: relevance on real, human-judged queries, one run per language — plain BM25, plain dense, plain hybrid
(reciprocal rank fusion), score fusion alone, the default fast path, and the fast path with each stage switched
off in turn (by its setting). Whatever is fitted on the judged queries (fusion weights, the learned ranker) is
cross-validated: each query is ranked by a model fitted on the other folds. nDCG@10 with its fold range and a
bootstrap 95% interval, recall@100, MRR@10, p50/p95 ms.

    .venv/bin/python eval/bench_relevance.py --lang en zh [--folds 5] [--rows "plain bm25" ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.settings import load_settings  # noqa: E402
from eval.datasets import load_jsonl  # noqa: E402
from eval.harness import assistant_for_catalog  # noqa: E402
from eval.relevance import Row, collect_for, language_settings, run_row, summary  # noqa: E402
from eval.suites import retrieval  # noqa: E402
from eval.train_model import write_language_model  # noqa: E402
from tools.ranking import RankingModel  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEV = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()),
           REPO.parent / "shared") / "data" / "relevance_dev"
SETS = {
    "en": ("retrieval_en_chorus_dev.jsonl", "catalog_en_icecat.jsonl"),
    "zh": ("retrieval_zh_multicpr_dev.jsonl", "catalog_zh_multicpr_plus_taobao.jsonl"),
}
PLAIN = {"correct_spelling": False, "parse_attributes": False, "expand_queries": False, "product_kinds": False,
         "rerank": False, "fusion": "rrf", "classify_intent": False}


def rows(lang: str = "en") -> list[Row]:
    """The benchmark's rows: name, search mode, settings (SHOPQUERY_<NAME> each) and what is fitted. The default
    row fits what the shipped model uses in this language: the learned ranker only where its cross-validated
    nDCG@10 beat the fusion's (scripts/train_ranker.py)."""
    settings = load_settings()
    rerank = settings.rerank and RankingModel.load(settings.ranking_model).for_language(lang).weights is not None
    fit = "ranker" if rerank else "fusion"
    return [
        Row("plain bm25", "bm25", PLAIN),
        Row("plain dense", "dense", PLAIN),
        Row("plain hybrid (rrf)", "hybrid", PLAIN),
        Row("fast path (default)", "hybrid", {}, fit),
        Row("- learned ranker", "hybrid", {"rerank": False}, "fusion") if rerank else
        Row("+ learned ranker", "hybrid", {"rerank": True}, "ranker"),
        Row("score fusion only", "hybrid", {**PLAIN, "fusion": "weighted"}, "fusion"),
        Row("- product kinds", "hybrid", {"product_kinds": False}, fit),
        Row("- attributes", "hybrid", {"parse_attributes": False}, fit),
        Row("attributes as filters", "hybrid", {"attribute_evidence": False}, fit),
        Row("- spelling", "hybrid", {"correct_spelling": False}, fit, switch=True),
        Row("+ expansion", "hybrid", {"expand_queries": True}, fit),
        Row("- intent", "hybrid", {"classify_intent": False}, fit),
        Row("float32 query vectors", "hybrid", {"int8_query_vectors": "off"}, fit),
        Row("int8 query vectors, all", "hybrid", {"int8_query_vectors": "all"}, fit),
        Row("rrf fast path (before)", "hybrid", {"fusion": "rrf", "attribute_evidence": False}),
    ]


def run_language(lang: str, data_dir: Path, folds: int, names: list[str] | None, progress: bool,
                 cold: bool = False, fit_model: Path | None = None) -> dict:
    """Every row on one language's judged queries and catalog."""
    data, catalog = (data_dir / f for f in SETS[lang])
    base = load_settings()
    assistant, info = assistant_for_catalog(base, catalog, progress=progress)
    base = language_settings(assistant.settings, lang)
    cases = load_jsonl(data, retrieval.Case).cases
    out: list[dict] = []
    cache: dict = {}
    for row in rows(lang):
        if names and row.name not in names:
            continue
        result = summary(run_row(assistant, base, row, cases, folds, cache, cold), folds)
        result["settings"] = {f"SHOPQUERY_{k.upper()}": v for k, v in row.settings.items()}
        result["mode"], result["fitted"] = row.mode, row.fit or "-"
        out.append(result)
        if progress:
            print(_line(result), file=sys.stderr, flush=True)
    if fit_model is not None:
        features = collect_for(assistant, base, {}, cases, cache)
        write_language_model(fit_model, lang, features, data, SETS[lang][1])
    return {"lang": lang, "queries": len(cases), "data": str(data), **info, "folds": folds, "cold": cold,
            "expansion": base.expand_queries, "intent": base.classify_intent, "rows": out}


def _line(r: dict) -> str:
    return (f"{r['row']:<24}{r['ndcg@10']:>8.4f}  [{r['fold_min']:.3f}-{r['fold_max']:.3f}]"
            f"  ({r['ci_low']:.3f}-{r['ci_high']:.3f}){r['recall@100']:>9.4f}{r['mrr@10']:>8.4f}"
            f"{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}  {r['fitted']}")


def print_table(result: dict) -> None:
    """One language's table."""
    print(f"\n{result['lang']}: {result['queries']} judged queries, {result['catalog_products']} products, "
          f"{result['folds']}-fold CV for fitted rows; query embeddings {'cold' if result['cold'] else 'cached'}, "
          f"expansion {'on' if result['expansion'] else 'off'}, intent {'on' if result['intent'] else 'off'}")
    print(f"{'row':<24}{'nDCG@10':>8}  {'fold range':<13}  {'bootstrap 95%':<13}{'R@100':>9}{'MRR@10':>8}"
          f"{'p50 ms':>8}{'p95 ms':>8}  fitted")
    for r in result["rows"]:
        print(_line(r))


def main() -> int:
    """Run the benchmark for the chosen languages and print the tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    parser.add_argument("--data-dir", type=Path, default=DEV)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rows", nargs="*", help="only these rows (by name)")
    parser.add_argument("--cold", action="store_true", help="embed and spell-check every query afresh in every "
                        "row (latency includes the query embedding and the spelling candidates); by default each "
                        "query is embedded once per run")
    parser.add_argument("--fit-model", type=Path, help="also fit each language on all its queries (the "
                        "default row's features) and write it into this model file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run_language(lang, args.data_dir, args.folds, args.rows, True, args.cold, args.fit_model)
               for lang in args.lang]
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for result in results:
            print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
