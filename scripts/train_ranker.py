#!/usr/bin/env python3
"""Fit the ranking model (tools/resources/ranking_model.json) on the judged development queries: per language, the
fusion's lexical weight and the kind and attribute bonuses by grid search, then the learned linear ranker by
pairwise logistic regression; prints each fold's held-out nDCG@10 first. Deterministic (fixed folds, seeded pair
sampling), so a re-run gives the same file.

    .venv/bin/python scripts/train_ranker.py [--data-dir ../shared/data/relevance_dev] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.settings import load_settings  # noqa: E402
from eval.bench_relevance import DEV, SETS  # noqa: E402
from eval.datasets import load_jsonl  # noqa: E402
from eval.harness import assistant_for_catalog, file_digest  # noqa: E402
from eval.ranker_fit import cross_validate, fit_language  # noqa: E402
from eval.relevance import collect, configure, language_settings  # noqa: E402
from eval.suites import retrieval  # noqa: E402
from tools.ranking import DEFAULT_MODEL, RankingModel  # noqa: E402

FOLDS = 5


def train_language(lang: str, data_dir: Path) -> tuple[object, dict]:
    """Collect the features of one language's judged queries and fit its weights; (model, what it was fitted on)."""
    data, catalog = (data_dir / f for f in SETS[lang])
    assistant, _ = assistant_for_catalog(load_settings(), catalog, progress=False)
    base = language_settings(assistant.settings, lang)
    configure(assistant, base, {"rerank": False, "expand_queries": False})
    features = collect(assistant, load_jsonl(data, retrieval.Case).cases)
    folds = cross_validate(features, FOLDS)
    for row in folds:
        print(f"{lang} fold {row['fold']}: {row['queries']} held-out queries, nDCG@10 fused {row['fused']}, "
              f"learned {row['learned']}")
    about = {"data": data.name, "data_sha256": file_digest(data), "catalog": catalog.name,
             "queries": len(features), "cv": folds}
    return fit_language(features), about


def main() -> int:
    """Fit both languages and write the model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEV)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--lang", nargs="+", choices=sorted(SETS), default=sorted(SETS),
                        help="refit only these languages (the others are kept from --out)")
    args = parser.parse_args()
    model = RankingModel(languages={}, about={"built_by": "scripts/train_ranker.py", "folds": FOLDS})
    if args.out.is_file() and set(args.lang) != set(SETS):
        kept = RankingModel.load(args.out)
        model.languages.update({k: v for k, v in kept.languages.items() if k not in args.lang})
        model.about.update({k: v for k, v in kept.about.items() if k not in args.lang})
    for lang in args.lang:
        model.languages[lang], model.about[lang] = train_language(lang, args.data_dir)
    args.out.write_text(model.dumps(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
