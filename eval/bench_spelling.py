"""Benchmark of the spell corrector on real data, in one run, against plain symspellpy (`lookup_compound` with its
bundled dictionaries) and pycorrector where it is installed: exact match, correction F1, changed-correct rate
(correct queries the corrector changed) and p50/p95 ms (shopquery's with its per-process candidate cache emptied
before each query).

Sets: the Home Depot query -> corrected pairs (`relevance_dev`), with the shopquery rows cross-validated by line
(scorer and threshold fitted on the other folds only; each fold is corrected by the demo corrector alone, and by one
that learned the other folds' corrected queries as its query log); real correct queries (the corrected Home Depot sides,
per fold; the Chorus and Multi-CPR retrieval queries); SIGHAN 2013/14 test sentences (the dev split in
eval/data); Chinese queries (eval/data zh_query dev: real queries with errors put in, a regression check) and
ECSpell medical sentences (real errors). A `--data` file (e.g. the held-out Home Depot half) is corrected by the
shipped corrector, and by the same corrector with the dev half's corrected queries as its query log.

    .venv/bin/python eval/bench_spelling.py [--data-dir ../shared/data] [--folds 5] [--english-only] [--data FILE.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.app import DEMO_CATALOG  # noqa: E402
from assistant.catalog_io import ReadReport, read_catalog  # noqa: E402
from eval.spelling_en_fit import base_english, fit_without, fold_corrector, fold_items, scorer_file  # noqa: E402
from eval.suites import spelling  # noqa: E402
from tools.spelling import SpellCorrector, build_default_corrector  # noqa: E402
from tools.spelling_en_lm import EditScorer  # noqa: E402

METRICS = ("accuracy", "correction_f1", "false_correction_rate", "p50_ms", "p95_ms")
EVAL_DATA = ROOT / "eval" / "data"


def plain_symspell():
    """symspellpy as its documentation sets it up for compound correction."""
    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    sym.load_dictionary(str(files("symspellpy") / "frequency_dictionary_en_82_765.txt"), 0, 1)
    sym.load_bigram_dictionary(str(files("symspellpy") / "frequency_bigramdictionary_en_243_342.txt"), 0, 2)
    return lambda q: sym.lookup_compound(q, max_edit_distance=2)[0].term


def pycorrector_baseline():
    """pycorrector's default Chinese corrector, or None when it cannot run here (not installed, or its kenlm
    model is not on disk: it is a download)."""
    try:
        from pycorrector import Corrector  # type: ignore[import-not-found]

        corrector = Corrector()
        return lambda q: corrector.correct(q)["target"]
    except Exception:  # noqa: BLE001 - any failure means the baseline is skipped
        return None


def cases_from_pairs(pairs: list[tuple[str, str]]) -> list[spelling.Case]:
    """Eval cases from (query, expected) pairs."""
    return [spelling.Case(query=q, expected=e) for q, e in pairs]


def read_jsonl(path: Path) -> list[dict]:
    """The lines of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ecspell_cases(path: Path) -> list[spelling.Case]:
    """ECSpell lines: `id<TAB>source<TAB>target`."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return [spelling.Case(query=r[1], expected=r[2]) for r in rows if len(r) == 3 and r[1].strip()]


def as_new(corrector: SpellCorrector) -> Callable[[str], str]:
    """The corrector as a function timed as if every word of the query were new: the per-process candidate cache
    is emptied before each query (a process that serves many queries finds most words cached)."""

    def correct(query: str) -> str:
        corrector.clear_cache()
        return corrector.correct(query).corrected

    return correct


def homedepot_cv(pairs: list[tuple[str, str]], corrector: SpellCorrector, folds: int) -> dict[str, dict]:
    """shopquery on each Home Depot fold with scorer and threshold from the other folds: with the other folds'
    corrected queries as its query log, and without any (the demo catalog's vocabulary only, as shipped)."""
    parts = fold_items(corrector.english, pairs, folds)
    runs: dict[str, list[dict]] = {"homedepot": [], "homedepot_corrected_sides": [], "homedepot_no_log": [],
                                   "homedepot_corrected_sides_no_log": []}
    base = pickle.loads(pickle.dumps(corrector.english))  # noqa: S301 - our own object; each fold sets its scorer
    for f, part in enumerate(parts):
        scorer = EditScorer(scorer_file(*fit_without(parts, f), "fold"))
        part.english.scorer = base.scorer = scorer
        mine = [p for i, p in enumerate(pairs) if i % folds == f]
        for english, suffix in ((part.english, ""), (base, "_no_log")):
            correct = as_new(SpellCorrector(english, corrector.chinese))
            runs["homedepot" + suffix].append(spelling.evaluate(correct, cases_from_pairs(mine)))
            runs["homedepot_corrected_sides" + suffix].append(
                spelling.evaluate(correct, cases_from_pairs([(e, e) for _, e in mine])))
    return {name: spread(values) for name, values in runs.items()}


def spread(runs: list[dict]) -> dict:
    """Mean of each metric over folds, with the fold range as `<metric>_range`."""
    out = {}
    for metric in METRICS:
        values = [r[metric] for r in runs]
        out[metric] = round(statistics.mean(values), 4)
        out[metric + "_range"] = [round(min(values), 4), round(max(values), 4)]
    return out


def run_rows(name: str, cases: list[spelling.Case], systems: dict) -> dict[str, dict]:
    """Every system on one set."""
    return {system: {k: spelling.evaluate(fn, cases)[k] for k in METRICS} for system, fn in systems.items()
            if fn is not None}


def main() -> int:
    """Run every system on every set and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data", type=Path, action="append", default=[],
                        help="also run symspellpy and shopquery on this {query, expected} JSONL file")
    parser.add_argument("--english-only", action="store_true", help="skip the Chinese sets")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    dev = args.data_dir / "relevance_dev"
    products = list(read_catalog(args.catalog, ReadReport()))
    shop = build_default_corrector(products, Path(tempfile.mkdtemp(prefix="bench-spelling-")))
    shop_fn = as_new(shop)
    symspell, pyc = plain_symspell(), pycorrector_baseline()
    pairs = [(r["query"], r["expected"]) for r in read_jsonl(dev / "spelling_en_homedepot_dev.jsonl")]
    results: dict[str, dict] = {}
    results["homedepot"] = run_rows("homedepot", cases_from_pairs(pairs),
                                    {"symspellpy": symspell, "shopquery (scorer fitted on all lines)": shop_fn})
    cv = homedepot_cv(pairs, SpellCorrector(base_english(products), shop.chinese), args.folds)
    results["homedepot"][f"shopquery, no query log ({args.folds}-fold cv)"] = cv["homedepot_no_log"]
    results["homedepot"][f"shopquery, query log ({args.folds}-fold cv)"] = cv["homedepot"]
    results["no-change en: homedepot corrected sides"] = {
        f"shopquery, no query log ({args.folds}-fold cv)": cv["homedepot_corrected_sides_no_log"],
        f"shopquery, query log ({args.folds}-fold cv)": cv["homedepot_corrected_sides"]}
    chorus = [(r["query"], r["query"]) for r in read_jsonl(dev / "retrieval_en_chorus_dev.jsonl")]
    results["no-change en: chorus queries"] = run_rows("chorus", cases_from_pairs(chorus),
                                                       {"symspellpy": symspell, "shopquery": shop_fn})
    zh_sets = {
        "no-change zh: multicpr retrieval queries": cases_from_pairs(
            [(r["query"], r["query"]) for r in read_jsonl(dev / "retrieval_zh_multicpr_dev.jsonl")]),
        "zh sighan 13/14 dev sentences": [spelling.Case(**r) for r in read_jsonl(EVAL_DATA /
                                                                                "spelling_zh_sighan_dev.jsonl")],
        "zh queries dev (errors put in)": [spelling.Case(**r) for r in read_jsonl(EVAL_DATA /
                                                                                  "spelling_zh_query_dev.jsonl")],
        "zh ecspell med (real errors)": ecspell_cases(args.data_dir / "spelling_zh" / "ecspell" / "Data" /
                                                      "domains_data" / "med.test"),
    }
    for name, cases in ({} if args.english_only else zh_sets).items():
        results[name] = run_rows(name, cases, {"pycorrector": pyc, "shopquery": shop_fn})
    # a shop whose query log holds the dev half's corrected queries (the shipped scorer, fitted on that half)
    logged = SpellCorrector(fold_corrector(shop.english, [e for _, e in pairs]), shop.chinese) if args.data else None
    for path in args.data:
        results[str(path)] = run_rows(str(path), [spelling.Case(**r) for r in read_jsonl(path)],
                                      {"symspellpy": symspell, "pycorrector": pyc, "shopquery": shop_fn,
                                       "shopquery, dev half as query log": as_new(logged)})
    results["info"] = {"pycorrector": "ran" if pyc else "skipped: not installed or its kenlm model is not on "
                       "disk (a download)", "catalog": str(args.catalog)}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    print_table(results)
    return 0


def print_table(results: dict[str, dict]) -> None:
    """One block per set, one line per system."""
    for name, rows in results.items():
        if name == "info":
            continue
        print(f"\n{name}")
        print(f"  {'system':<40}{'exact':>8}{'corr F1':>9}{'changed':>9}{'p50 ms':>8}{'p95 ms':>8}")
        for system, m in rows.items():
            line = "".join(f"{m[k]:>{w}.3f}" for k, w in zip(METRICS, (8, 9, 9, 8, 8), strict=True))
            print(f"  {system:<40}{line}")
            if "accuracy_range" in m:
                ranges = [f"{m[k + '_range'][0]:.3f}-{m[k + '_range'][1]:.3f}" for k in METRICS]
                print(f"  {'  fold range (min-max)':<40}" + " ".join(ranges))
    print("\npycorrector:", results["info"]["pycorrector"])


if __name__ == "__main__":
    sys.exit(main())
