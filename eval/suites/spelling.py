"""Spelling suite: data lines {"query": str, "expected": str}; exact-match accuracy, sentence-level detection and
correction precision/recall/F1 (precision over the queries the corrector changed, recall over the queries that had
errors, as pycorrector and the SIGHAN sentence-level metrics count them), the false-correction rate on queries that
were already right (the changed-correct rate), latency and queries per second."""

from __future__ import annotations

import difflib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eval.datasets import Dataset
from eval.metrics import percentile
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify
from tools.hanzi import to_simplified

NAME = "spelling"


class Case(BaseModel):
    """One query and the query as it should read after correction (equal to the query when it is right)."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1)
    expected: str
    kind: str | None = None


def canonical(text: str) -> str:
    """Whitespace squeezed, case folded and Chinese simplified: the form in which outputs are compared (turning
    traditional characters into simplified ones is a normalisation, neither a fix nor a false correction)."""
    return " ".join(to_simplified(text).split()).casefold()


def changed_spans(source: str, target: str) -> frozenset[tuple[int, int]]:
    """Where target differs from source: character positions for equal lengths, else token spans of the source."""
    if len(source) == len(target):
        return frozenset((i, i + 1) for i, (a, b) in enumerate(zip(source, target, strict=True)) if a != b)
    matcher = difflib.SequenceMatcher(a=source.split(), b=target.split(), autojunk=False)
    return frozenset((i1, i2) for op, i1, i2, _, _ in matcher.get_opcodes() if op != "equal")


def prf(hits: int, predicted: int, actual: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0.0 where undefined)."""
    p = hits / predicted if predicted else 0.0
    r = hits / actual if actual else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def score(triples: list[tuple[str, str, str]]) -> dict[str, float]:
    """Metrics over (query, expected, predicted) triples."""
    changed = errors = det_hits = cor_hits = exact = right = false_fix = 0
    for query, expected, predicted in triples:
        q, e, p = canonical(query), canonical(expected), canonical(predicted)
        exact += p == e
        errors += q != e
        if q == e:
            right += 1
            false_fix += p != q
        if p == q:
            continue
        changed += 1
        det_hits += q != e and changed_spans(q, p) == changed_spans(q, e)
        cor_hits += q != e and p == e
    det, cor = prf(det_hits, changed, errors), prf(cor_hits, changed, errors)
    out = {"accuracy": exact / len(triples) if triples else 0.0}
    out.update({f"detection_{k}": v for k, v in det.items()})
    out.update({f"correction_{k}": v for k, v in cor.items()})
    out.update({"false_correction_rate": false_fix / right if right else 0.0, "queries_with_errors": errors,
                "correct_queries": right, "changed": changed})
    return out


def per_kind_accuracy(cases: list[Case], predictions: list[str]) -> dict[str, float]:
    """Exact-match accuracy for each `kind` label the data carries."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, predicted in zip(cases, predictions, strict=True):
        if case.kind:
            totals[case.kind][0] += canonical(predicted) == canonical(case.expected)
            totals[case.kind][1] += 1
    return {f"accuracy[{k}]": round(h / n, 4) for k, (h, n) in sorted(totals.items())}


def _correct_one(correct: Callable[[str], str], case: Case, index: int) -> CaseRecord:
    """One query through the corrector; a crash keeps the query as typed and is recorded."""
    start = time.perf_counter()
    try:
        predicted, error = correct(case.query), None
    except Exception as exc:  # noqa: BLE001 - one bad case must not end the run
        predicted, error = case.query, error_text(exc)
    ms = (time.perf_counter() - start) * 1000
    ok = canonical(predicted) == canonical(case.expected)
    changed = canonical(predicted) != canonical(case.query)
    had_error = canonical(case.query) != canonical(case.expected)
    scores = {"exact": ok, "changed": changed, "had_error": had_error, "fixed": had_error and changed and ok,
              "was_right": not had_error, "false_correction": changed and not had_error}
    return CaseRecord(id=case_id(case, index, NAME), passed=ok and error is None, error=error,
                      scores=scores, latency_ms=round(ms, 3), input=case.query,
                      expected=case.expected, output=predicted, labels={"kind": case.kind} if case.kind else {},
                      failures=[] if ok or error else [f"{predicted!r} != {case.expected!r}"])


def evaluate_cases(correct: Callable[[str], str], cases: list[Case],
                   on_case: CaseCallback | None = None) -> SuiteResult:
    """Every metric of the suite for one correction function, with the per-case records."""
    correct(cases[0].query)
    start_all = time.perf_counter()
    records = [notify(on_case, _correct_one(correct, c, i)) for i, c in enumerate(cases)]
    seconds = time.perf_counter() - start_all
    outputs = [str(r.output) for r in records]
    latencies = [r.latency_ms or 0.0 for r in records]
    metrics: dict[str, Any] = {k: round(v, 4) if isinstance(v, float) else v
                               for k, v in score([(c.query, c.expected, o) for c, o in
                                                  zip(cases, outputs, strict=True)]).items()}
    metrics.update(per_kind_accuracy(cases, outputs))
    metrics.update({
        "queries": len(cases), "failed": sum(r.error is not None for r in records),
        "queries_per_s": round(len(cases) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 50), 3), "p95_ms": round(percentile(latencies, 95), 3),
    })
    return SuiteResult(metrics=metrics, cases=records)


def evaluate(correct: Callable[[str], str], cases: list[Case]) -> dict[str, Any]:
    """Every metric of the suite for one correction function."""
    return evaluate_cases(correct, cases).metrics


def run_cases(assistant: Any, dataset: Dataset[Case], on_case: CaseCallback | None = None, **_: Any) -> SuiteResult:
    """Score `assistant.corrector` on the dataset, case by case (queries kept as typed when the assistant's
    settings switch correction off: the do-nothing baseline)."""
    if not getattr(getattr(assistant, "settings", None), "correct_spelling", True):
        return evaluate_cases(lambda q: q, dataset.cases, on_case)
    corrector = assistant.corrector
    return evaluate_cases(lambda q: corrector.correct(q).corrected, dataset.cases, on_case)


def run(assistant: Any, dataset: Dataset[Case], **options: Any) -> dict[str, Any]:
    """Score `assistant.corrector` on the dataset."""
    return run_cases(assistant, dataset, **options).metrics


def main(argv: list[str] | None = None) -> int:
    """Score the default corrector (built for a catalog, cached under --cache) on one dataset; prints JSON."""
    import argparse
    import json
    import tempfile
    from pathlib import Path

    from assistant.app import DEMO_CATALOG
    from assistant.catalog_io import ReadReport, read_catalog
    from eval.datasets import load_jsonl
    from tools.spelling import build_default_corrector

    parser = argparse.ArgumentParser(description="Run the spelling suite without the rest of the assistant.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "shopquery-spelling-eval")
    args = parser.parse_args(argv)
    products = list(read_catalog(args.catalog, ReadReport()))
    holder = type("Holder", (), {"corrector": build_default_corrector(products, args.cache)})()
    metrics = run(holder, load_jsonl(args.data, Case))
    print(json.dumps({"data": str(args.data), **metrics}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
