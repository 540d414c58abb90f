#!/usr/bin/env python3
"""Fit the English spelling scorer (a logistic regression over `tools.spelling_en_lm.FEATURES`) and its default
threshold, and write them to ``tools/resources/en_scorer.json``.

Data: real Home Depot search queries with their corrected form (`relevance_dev/spelling_en_homedepot_dev.jsonl`);
the corrected sides are the no-change set. The corrector is built for the demo catalog; each fold's candidates
come from a corrector that learned only the other folds' corrected queries as a query log. The threshold is the
lowest one that changes at most `--cap` of the correct queries it was fitted on. The script prints the
cross-validated figures (weights and threshold fitted without the fold) before fitting on all lines.

Usage::

    .venv/bin/python scripts/tune_spelling_en.py --data ../shared/data/relevance_dev/spelling_en_homedepot_dev.jsonl \
        [--folds 5] [--cap 0.015] [--c 1.0] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.app import DEMO_CATALOG  # noqa: E402
from assistant.catalog_io import ReadReport, read_catalog  # noqa: E402
from eval.spelling_en_fit import (  # noqa: E402
    CHANGED_CAP,
    base_english,
    changed_rate,
    exact_rate,
    fit,
    fold_items,
    pick_threshold,
    scorer_file,
)
from tools.spelling_en_lm import SCORER_FILE  # noqa: E402


def main() -> int:
    """Cross-validate, then fit on every line and write the scorer file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cap", type=float, default=CHANGED_CAP)
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=SCORER_FILE)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(r["query"], r["expected"]) for r in rows]
    folds = fold_items(base_english(list(read_catalog(args.catalog, ReadReport()))), pairs, args.folds)
    for f, (_, typos, correct) in enumerate(folds):
        train_t = [it for g, (_, t, _) in enumerate(folds) if g != f for it in t]
        train_c = [it for g, (_, _, c) in enumerate(folds) if g != f for it in c]
        weights = fit(train_t + train_c, args.c)
        threshold = pick_threshold(train_c, weights, args.cap)
        print(f"fold {f}: threshold {threshold:.2f}  exact {exact_rate(typos, weights, threshold):.3f}  "
              f"changed-correct {changed_rate(correct, weights, threshold):.4f}")
    all_t = [it for _, t, _ in folds for it in t]
    all_c = [it for _, _, c in folds for it in c]
    weights = fit(all_t + all_c, args.c)
    threshold = pick_threshold(all_c, weights, args.cap)
    note = (f"fitted by scripts/tune_spelling_en.py on {args.data.name} ({len(pairs)} pairs, {args.folds}-fold "
            f"candidates), C={args.c}, threshold for <= {args.cap:.1%} changed correct queries")
    args.out.write_text(json.dumps(scorer_file(weights, threshold, note), indent=1) + "\n", encoding="utf-8")
    print(f"all lines: threshold {threshold:.2f}  exact {exact_rate(all_t, weights, threshold):.3f}  "
          f"changed-correct {changed_rate(all_c, weights, threshold):.4f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
