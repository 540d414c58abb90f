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


def run(assistant: Any, dataset: Dataset[Case], **_: Any) -> dict[str, Any]:
    """Classify every case one query at a time (as in use) and score the predictions."""
    classifier = assistant.intent_classifier
    classifier.predict("warm up")
    predicted, latencies = [], []
    for case in dataset.cases:
        start = time.perf_counter()
        predicted.append(classifier.predict(case.text).label)
        latencies.append((time.perf_counter() - start) * 1000)
    gold = [case.label for case in dataset.cases]
    labels = list(getattr(classifier, "labels", None) or sorted(set(gold) | set(predicted)))
    result = score(gold, predicted, labels)
    result.update({
        "queries": len(gold),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "confusion": confusion_matrix(gold, predicted, labels),
    })
    return result


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
    if not args.confusion:
        result.pop("confusion")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
