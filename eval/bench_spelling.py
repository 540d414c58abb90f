"""Benchmark: the shopquery spell corrector against plain symspellpy (`lookup_compound` with its bundled word and
bigram dictionaries) on the same queries in the same run: accuracy, F1, false corrections and queries/s, with ratios.
Also reports how long the saved dictionaries take to load and the single-query latency.

    .venv/bin/python eval/bench_spelling.py --data eval/data/spelling_en_test.jsonl \
        [--catalog assistant/data/demo_catalog.jsonl] [--cache DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.app import DEMO_CATALOG  # noqa: E402
from assistant.catalog_io import ReadReport, read_catalog  # noqa: E402
from eval.datasets import load_jsonl  # noqa: E402
from eval.suites import spelling  # noqa: E402
from tools.spelling import SpellCorrector, build_default_corrector  # noqa: E402

METRICS = ("accuracy", "correction_f1", "detection_f1", "false_correction_rate", "queries_per_s", "p50_ms", "p95_ms")


def plain_symspell():
    """symspellpy as its documentation sets it up for compound correction."""
    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    sym.load_dictionary(str(files("symspellpy") / "frequency_dictionary_en_82_765.txt"), 0, 1)
    sym.load_bigram_dictionary(str(files("symspellpy") / "frequency_bigramdictionary_en_243_342.txt"), 0, 2)
    return lambda q: sym.lookup_compound(q, max_edit_distance=2)[0].term


def load_products(path: Path) -> list:
    """Products of a catalog file (bad rows skipped)."""
    return list(read_catalog(path, ReadReport()))


def timed_load(cache: Path) -> float:
    """Seconds to load saved dictionaries."""
    start = time.perf_counter()
    SpellCorrector.load(cache)
    return time.perf_counter() - start


def main() -> int:
    """Run both correctors on the dataset and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--cache", type=Path, default=None, help="data dir for the built dictionaries")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cases = load_jsonl(args.data, spelling.Case).cases
    data_dir = args.cache or Path(tempfile.mkdtemp(prefix="bench-spelling-"))
    corrector = build_default_corrector(load_products(args.catalog), data_dir)
    load_s = timed_load(data_dir / "spelling")
    results = {
        "symspellpy": spelling.evaluate(plain_symspell(), cases),
        "shopquery": spelling.evaluate(lambda q: corrector.correct(q).corrected, cases),
    }
    results["info"] = {"data": str(args.data), "queries": len(cases), "load_s": round(load_s, 2)}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    print(f"{len(cases)} queries from {args.data}; dictionaries load in {load_s:.2f} s")
    print(f"{'metric':<24}{'symspellpy':>12}{'shopquery':>12}{'ratio':>8}")
    for metric in METRICS:
        base, ours = results["symspellpy"][metric], results["shopquery"][metric]
        ratio = f"{ours / base:8.2f}" if base else f"{'-':>8}"
        print(f"{metric:<24}{base:>12.4g}{ours:>12.4g}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
