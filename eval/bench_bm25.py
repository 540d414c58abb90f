"""Benchmark: plain BM25 variants on real, human-judged queries — how Chinese is tokenised (jieba words, words plus
bigrams, words plus characters, characters), and BM25's k1/b, title weight and description length — each variant's
nDCG@10, and the nested cross-validated figure of choosing the best variant on four folds for the fifth (what a
tuned default would really score on unseen queries).

    .venv/bin/python eval/bench_bm25.py --lang zh      # tokenisations (Chinese)
    .venv/bin/python eval/bench_bm25.py --lang en      # k1, b, title weight, description length (English)
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.bench_relevance import DEV, SETS  # noqa: E402
from eval.metrics import ndcg_at  # noqa: E402
from eval.ranker_fit import fold_of  # noqa: E402
from tools.catalog_store import teach_segmenter  # noqa: E402
from tools.core.types import Product  # noqa: E402
from tools.text import _RUN, is_cjk, normalize, tokenize  # noqa: E402

Tokenizer = Callable[[str], list[str]]
FOLDS = 5


def _cjk_runs(text: str) -> list[str]:
    return [run for run in _RUN.findall(normalize(text)) if is_cjk(run)]


def _bigrams(text: str) -> list[str]:
    return [run[i:i + 2] for run in _cjk_runs(text) for i in range(max(1, len(run) - 1))]


def _chars(text: str) -> list[str]:
    return [ch for run in _cjk_runs(text) for ch in run]


def _words_only(text: str) -> list[str]:
    return [t for t in tokenize(text) if not is_cjk(t)]


TOKENIZERS: dict[str, Tokenizer] = {
    "words (jieba)": tokenize,
    "words + bigrams": lambda t: tokenize(t) + _bigrams(t),
    "words + characters": lambda t: tokenize(t) + _chars(t),
    "characters": lambda t: _chars(t) + _words_only(t),
}


def doc_text(p: Product, title_weight: int, description: int) -> str:
    """The indexed text with the title repeated and the description cut."""
    parts = [p.title] * title_weight + [p.brand, p.category, p.color]
    if description and p.description:
        parts.append(p.description[:description])
    return " ".join(x for x in parts if x)


def per_query(products: list[Product], cases: list[dict], tok: Tokenizer, title_weight: int = 1,
              description: int = 300, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """nDCG@10 of each judged query under one BM25 variant."""
    import bm25s

    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index([tok(doc_text(p, title_weight, description)) or ["_"] for p in products], show_progress=False)
    ids = [p.id for p in products]
    out = []
    for case in cases:
        token_ids = retriever.get_tokens_ids(tok(case["query"]))
        scores = np.asarray(retriever.get_scores(token_ids)) if token_ids else np.zeros(len(ids))
        top = [ids[i] for i in np.argsort(-scores, kind="stable")[:10] if scores[i] > 0]
        out.append(ndcg_at(top, case["relevant"], 10))
    return np.array(out)


def nested(results: dict[str, np.ndarray], folds: np.ndarray) -> tuple[float, list[str]]:
    """Held-out nDCG@10 when each fold gets the variant best on the other folds, and the variants chosen."""
    held = np.zeros(len(folds))
    chosen = []
    for fold in range(FOLDS):
        best = max(results, key=lambda name: results[name][folds != fold].mean())
        held[folds == fold] = results[best][folds == fold]
        chosen.append(best)
    return float(held.mean()), chosen


def variants(lang: str) -> dict[str, dict]:
    """The variants compared in a language (keyword arguments of `per_query`)."""
    if lang == "zh":
        return {name: {"tok": tok} for name, tok in TOKENIZERS.items()}
    grid = itertools.product((1, 2, 3), (0, 100, 300), (0.6, 0.9, 1.2, 1.5, 2.0), (0.3, 0.5, 0.75, 0.9))
    return {f"title x{t}, description {d}, k1 {k1}, b {b}": {"tok": tokenize, "title_weight": t, "description": d,
                                                             "k1": k1, "b": b} for t, d, k1, b in grid}


def main() -> int:
    """Score every variant and print them with the nested cross-validated figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", choices=sorted(SETS), default="zh")
    parser.add_argument("--data-dir", type=Path, default=DEV)
    args = parser.parse_args()
    data, catalog = (args.data_dir / f for f in SETS[args.lang])
    products = [Product.model_validate_json(line) for line in catalog.read_text(encoding="utf-8").splitlines()]
    teach_segmenter(products)
    cases = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    folds = np.array([fold_of(c["query"], FOLDS) for c in cases])
    results = {name: per_query(products, cases, **kw) for name, kw in variants(args.lang).items()}
    for name, values in sorted(results.items(), key=lambda kv: -kv[1].mean())[:20]:
        by_fold = [values[folds == f].mean() for f in range(FOLDS)]
        print(f"{name:<48}{values.mean():.4f}  [{min(by_fold):.3f}-{max(by_fold):.3f}]")
    score, chosen = nested(results, folds)
    print(f"nested 5-fold choice: {score:.4f} (chosen per fold: {'; '.join(chosen)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
