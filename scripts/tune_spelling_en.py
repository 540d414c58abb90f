#!/usr/bin/env python3
"""Fit the English edit scorer (a small network over `tools.spelling_en_lm.FEATURES`, softmax over each token's
candidates and the token as typed) and its default threshold, and write them to ``tools/resources/en_scorer.json``.

Data: real Home Depot search queries with their corrected form (`relevance_dev/spelling_en_homedepot_dev.jsonl`);
the corrected sides are the no-change set. The corrector is built for the demo catalog. Candidates are collected
twice: with a corrector that learned only the other folds' corrected queries as a query log, and with the demo
corrector alone (no query log, as for a shop whose log is empty). The threshold is the lowest one that changes at
most `--cap` of the correct queries it was fitted on, both ways. The script prints the cross-validated figures
(scorer and threshold fitted without the fold) before fitting on all lines.

Usage::

    .venv/bin/python scripts/tune_spelling_en.py --data ../shared/data/relevance_dev/spelling_en_homedepot_dev.jsonl \
        [--folds 5] [--cap 0.010] [--out FILE]
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
    fit_without,
    fold_items,
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
    parser.add_argument("--out", type=Path, default=SCORER_FILE)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(r["query"], r["expected"]) for r in rows]
    folds = fold_items(base_english(list(read_catalog(args.catalog, ReadReport()))), pairs, args.folds)
    for f, fold in enumerate(folds):
        scorer, threshold = fit_without(folds, f, args.cap)
        print(f"fold {f}: threshold {threshold:.2f}  exact {exact_rate(fold.typos, scorer, threshold):.3f}  "
              f"changed-correct {changed_rate(fold.correct, scorer, threshold):.4f}  without the query log: exact "
              f"{exact_rate(fold.base_typos, scorer, threshold):.3f}  changed-correct "
              f"{changed_rate(fold.base_correct, scorer, threshold):.4f}", flush=True)
    scorer, threshold = fit_without(folds, None, args.cap)
    note = (f"fitted by scripts/tune_spelling_en.py on {args.data.name} ({len(pairs)} pairs, {args.folds}-fold "
            f"candidates with and without the query log), threshold for <= {args.cap:.1%} changed correct queries")
    args.out.write_text(json.dumps(scorer_file(scorer, threshold, note), indent=1) + "\n", encoding="utf-8")
    typos = [it for f in folds for it in f.typos]
    correct = [it for f in folds for it in f.correct]
    print(f"all lines: threshold {threshold:.2f}  exact {exact_rate(typos, scorer, threshold):.3f}  "
          f"changed-correct {changed_rate(correct, scorer, threshold):.4f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
