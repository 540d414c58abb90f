"""Ranking and latency metrics used by the eval suites."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def dcg(grades: Sequence[float]) -> float:
    """Discounted cumulative gain with exponential gain (2^grade - 1) and log2(rank + 1) discount."""
    return sum((2.0**g - 1.0) / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k of a ranked list against graded judgements (unjudged items count as grade 0)."""
    ideal = dcg(sorted((g for g in relevant.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([relevant.get(doc, 0.0) for doc in ranked[:k]]) / ideal


def recall_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant items (grade > 0) that appear in the top k."""
    wanted = {doc for doc, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant item within the top k (0 when none)."""
    for i, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / i
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of the values, 0.0 for an empty list."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else 0.0


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean, 0.0 for an empty list."""
    return float(sum(values) / len(values)) if values else 0.0
