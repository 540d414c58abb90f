"""Benchmark: the fine-tuned intent classifier against a TF-IDF (character n-grams) + logistic regression
baseline trained on the same split, both with an out-of-scope threshold tuned on dev.

    .venv/bin/python eval/bench_intent.py --checkpoint DIR [--data eval/data/intent_test.jsonl]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.metrics import percentile  # noqa: E402
from eval.suites.intent import score  # noqa: E402
from tools.intent import LABELS, IntentClassifier, apply_threshold, choose_threshold  # noqa: E402
from tools.intent_data import IntentExample, read_jsonl  # noqa: E402


class TfidfBaseline:
    """Character 1-4-gram TF-IDF with a multinomial logistic regression; works for Chinese without a tokenizer."""

    def __init__(self, train: list[IntentExample]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1)
        features = self.vectorizer.fit_transform([e.text.lower() for e in train])
        self.model = LogisticRegression(C=10.0, max_iter=2000)
        self.model.fit(features, [e.label for e in train])
        self.labels = list(LABELS)
        self.threshold = 0.0

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        """Class probabilities in LABELS order."""
        rows = self.model.predict_proba(self.vectorizer.transform([t.lower() for t in texts]))
        index = {label: i for i, label in enumerate(self.model.classes_)}
        return [[float(row[index[label]]) if label in index else 0.0 for label in self.labels] for row in rows]

    def predict(self, text: str) -> Any:
        """The thresholded prediction of one query."""
        return apply_threshold(self.probabilities([text])[0], self.labels, self.threshold)


def evaluate(model: Any, cases: list[IntentExample]) -> dict[str, Any]:
    """Single-query predictions of every case: quality metrics and latency."""
    model.predict("warm up")
    predicted, latencies = [], []
    for case in cases:
        start = time.perf_counter()
        predicted.append(model.predict(case.text).label)
        latencies.append((time.perf_counter() - start) * 1000)
    result = score([c.label for c in cases], predicted, list(LABELS))
    result["p50_ms"] = percentile(latencies, 50)
    result["p95_ms"] = percentile(latencies, 95)
    return result


def table(baseline: dict[str, Any], tuned: dict[str, Any]) -> str:
    """A markdown table of both systems and the ratio fine-tuned / baseline."""
    lines = ["| metric | tf-idf + logreg | fine-tuned e5-small | ratio |", "|---|---|---|---|"]
    for key in ("macro_f1", "accuracy", "oos_recall", "p50_ms", "p95_ms"):
        a, b = baseline[key], tuned[key]
        ratio = f"{b / a:.2f}x" if a else "-"
        lines.append(f"| {key} | {a:.3f} | {b:.3f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry: train the baseline, load the checkpoint, score both on the same file."""
    parser = argparse.ArgumentParser(description="fine-tuned intent classifier vs TF-IDF baseline")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "tools" / "resources")
    parser.add_argument("--data", type=Path, default=None, help="default: eval/data/intent_test.jsonl")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=["int8", "bf16", "fp32"], default="int8")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    train = read_jsonl(args.data_dir / "intent_train.jsonl")
    dev = read_jsonl(args.data_dir / "intent_dev.jsonl")
    cases = read_jsonl(args.data or ROOT / "eval" / "data" / "intent_test.jsonl")
    started = time.perf_counter()
    baseline = TfidfBaseline(train)
    baseline.threshold = choose_threshold(baseline.probabilities([e.text for e in dev]),
                                          [e.label for e in dev], list(LABELS))
    print(f"baseline trained in {time.perf_counter() - started:.1f} s, threshold {baseline.threshold:.2f}")
    tuned = IntentClassifier.load(args.checkpoint, args.precision)
    print(f"fine-tuned threshold {tuned.threshold:.2f}; {len(cases)} cases from {args.data or 'intent_test.jsonl'}")
    results = {"baseline": evaluate(baseline, cases), "tuned": evaluate(tuned, cases)}
    print(table(results["baseline"], results["tuned"]))
    for name, result in results.items():
        print(name, "per-label F1:", result["per_label_f1"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
