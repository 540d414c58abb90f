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
from eval.harness import assistant_for_catalog  # noqa: E402
from eval.relevance import collect_for, language_settings  # noqa: E402
from eval.suites import retrieval  # noqa: E402
from eval.train_model import write_language_model  # noqa: E402
from tools.ranking import DEFAULT_MODEL  # noqa: E402


def train_language(lang: str, data_dir: Path, out: Path) -> None:
    """Collect the features of one language's judged queries and write its fitted weights into `out`."""
    data, catalog = (data_dir / f for f in SETS[lang])
    assistant, _ = assistant_for_catalog(load_settings(), catalog, progress=False)
    base = language_settings(assistant.settings, lang)
    features = collect_for(assistant, base, {}, load_jsonl(data, retrieval.Case).cases, {})
    model = write_language_model(out, lang, features, data, SETS[lang][1])
    for row in model.about[lang]["cv"]:
        print(f"{lang} fold {row['fold']}: {row['queries']} held-out queries, nDCG@10 fused {row['fused']}, "
              f"learned {row['learned']}")


def main() -> int:
    """Fit the chosen languages and write the model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEV)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--lang", nargs="+", choices=sorted(SETS), default=sorted(SETS),
                        help="refit only these languages (the others are kept from --out)")
    args = parser.parse_args()
    for lang in args.lang:
        train_language(lang, args.data_dir, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
