"""Intent suite: data lines {"text": str, "label": str}; accuracy, macro-F1, per-label F1, confusion matrix,
out-of-scope recall and single-query latency of `assistant.intent_classifier`.

    .venv/bin/python -m eval.suites.intent --checkpoint DIR --data eval/data/intent_test.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from eval.datasets import Dataset, load_jsonl
from eval.metrics import percentile
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify

NAME = "intent"
NEEDS_CATALOG = False  # the classifier does not look at the catalog


class Case(BaseModel):
    """One query and its expected intent label."""

    text: str = Field(min_length=1)
    label: str = Field(min_length=1)


def confusion_matrix(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, dict[str, int]]:
    """Counts as matrix[gold][predicted], every label present as a row and a column."""
    matrix = {g: dict.fromkeys(labels, 0) for g in labels}
    for g, p in zip(gold, predicted, strict=True):
        matrix.setdefault(g, dict.fromkeys(labels, 0))
        matrix[g][p] = matrix[g].get(p, 0) + 1
    return matrix


def score(gold: list[str], predicted: list[str], labels: list[str], oos_label: str = "out_of_scope") -> dict:
    """Accuracy, macro-F1 (labels present in gold), per-label F1 and OOS recall of a set of predictions."""
    from tools.intent import macro_f1, per_label_f1

    present = [label for label in labels if label in set(gold)]
    oos = [p for g, p in zip(gold, predicted, strict=True) if g == oos_label]
    return {
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(1, len(gold)), 4),
        "macro_f1": round(macro_f1(gold, predicted, present), 4),
        "oos_recall": round(sum(p == oos_label for p in oos) / len(oos), 4) if oos else None,
        "per_label_f1": {k: round(v, 4) for k, v in per_label_f1(gold, predicted, present).items()},
    }


ERROR_LABEL = "<error>"


def _classify(classifier: Any, case: Case, index: int) -> CaseRecord:
    start = time.perf_counter()
    try:
        predicted, error = classifier.predict(case.text).label, None
    except Exception as exc:  # noqa: BLE001 - one bad case must not end the run
        predicted, error = ERROR_LABEL, error_text(exc)
    ms = (time.perf_counter() - start) * 1000
    ok = predicted == case.label
    return CaseRecord(id=case_id(case, index, NAME), passed=ok, error=error, scores={"correct": ok},
                      latency_ms=round(ms, 2), input=case.text, expected=case.label, output=predicted,
                      labels={"expected": case.label, "predicted": predicted},
                      failures=[] if ok or error else [f"predicted {predicted} != {case.label}"])


def run_cases(assistant: Any, dataset: Dataset[Case], on_case: CaseCallback | None = None, **_: Any) -> SuiteResult:
    """Classify every case one query at a time (as in use); per-case records and the scores."""
    classifier = assistant.intent_classifier
    classifier.predict("warm up")
    records = [notify(on_case, _classify(classifier, case, i)) for i, case in enumerate(dataset.cases)]
    gold = [r.labels["expected"] for r in records]
    predicted = [r.labels["predicted"] for r in records]
    latencies = [r.latency_ms or 0.0 for r in records]
    labels = list(getattr(classifier, "labels", None) or sorted(set(gold) | set(predicted)))
    if ERROR_LABEL in predicted and ERROR_LABEL not in labels:
        labels.append(ERROR_LABEL)
    result = score(gold, predicted, labels)
    result.update({
        "queries": len(gold),
        "failed": sum(r.error is not None for r in records),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "confusion": confusion_matrix(gold, predicted, labels),
    })
    return SuiteResult(metrics=result, cases=records)


def run(assistant: Any, dataset: Dataset[Case], **options: Any) -> dict[str, Any]:
    """Classify every case one query at a time (as in use) and score the predictions."""
    return run_cases(assistant, dataset, **options).metrics


class _Holder:
    """Just enough of an assistant for the suite: an `intent_classifier` attribute."""

    def __init__(self, classifier: Any) -> None:
        self.intent_classifier = classifier


def main(argv: list[str] | None = None) -> int:
    """Command line entry: score a checkpoint on a dataset and print the metrics as JSON."""
    from tools.intent import IntentClassifier

    parser = argparse.ArgumentParser(description="score an intent checkpoint")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("eval/data/intent_test.jsonl"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=["int8", "bf16", "fp32"], default="int8")
    parser.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = run(_Holder(IntentClassifier.load(args.checkpoint, args.precision)), load_jsonl(args.data, Case))
    result.pop("failed", None)
    if not args.confusion:
        result.pop("confusion")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
