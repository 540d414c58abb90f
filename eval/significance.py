"""Is a difference between two cells beyond the noise? A bootstrap over cases: paired (both cells resampled with
the same case ids) when the cells share their case ids, unpaired otherwise.

A metric is recomputed from its cells' case records as a ratio of sums (a mean is a ratio over a count, an F1 is
2·tp / (2·tp + fp + fn)) or as a quantile of per-case latency; a metric no case record can rebuild gets no
interval. Resampling is seeded, so a report is the same every time it is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from eval.report_record import RecordedCase, is_number

RESAMPLES = 2000
LEVEL = 0.95
SEED = 20261207
_QUANTILE = re.compile(r"^p(\d{1,2})_ms$")
# metrics rebuilt as sum(num) / sum(den) from per-case scores: {metric: (numerator terms, denominator terms)}
# each term is (score key or "passed", weight); a metric whose keys are absent from the cases is skipped
RATIOS: dict[str, tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]] = {
    "pass_rate": ((("passed", 1.0),), (("1", 1.0),)),
    "slot_f1": ((("slot_tp", 2.0),), (("slot_tp", 2.0), ("slot_fp", 1.0), ("slot_fn", 1.0))),
    "correction_f1": ((("fixed", 2.0),), (("changed", 1.0), ("had_error", 1.0))),
    "correction_precision": ((("fixed", 1.0),), (("changed", 1.0),)),
    "correction_recall": ((("fixed", 1.0),), (("had_error", 1.0),)),
    "false_correction_rate": ((("false_correction", 1.0),), (("was_right", 1.0),)),
}
ALIASES = {"accuracy": ("exact", "correct"), "exact_match": ("passed",)}


@dataclass(frozen=True)
class Estimator:
    """How to compute one metric on a resample of case positions: a ratio of sums or a latency quantile."""

    kind: Literal["ratio", "quantile"]
    first: np.ndarray
    second: np.ndarray | None = None
    q: float = 50.0

    @property
    def size(self) -> int:
        """Number of cases."""
        return len(self.first)

    def on(self, index: np.ndarray) -> np.ndarray:
        """The metric on each row of `index` (shape resamples x cases), or on one index vector."""
        if self.kind == "quantile":
            return np.percentile(self.first[index], self.q, axis=-1)
        den = self.second[index].sum(axis=-1)
        num = self.first[index].sum(axis=-1)
        return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den != 0)

    def value(self) -> float:
        """The metric on every case once."""
        return float(self.on(np.arange(self.size)))

    def subset(self, positions: np.ndarray) -> Estimator:
        """The same estimator over some of the cases, in the given order."""
        second = None if self.second is None else self.second[positions]
        return Estimator(self.kind, self.first[positions], second, self.q)


def _term(case: RecordedCase, key: str) -> float | None:
    if key == "1":
        return 1.0
    if key == "passed":
        return float(case.passed)
    value = case.scores.get(key)
    return float(value) if is_number(value) or isinstance(value, bool) else None


def _sums(cases: list[RecordedCase], terms: tuple[tuple[str, float], ...]) -> np.ndarray | None:
    out = np.zeros(len(cases))
    for key, weight in terms:
        values = [_term(c, key) for c in cases]
        if any(v is None for v in values):
            return None
        out += weight * np.array(values, dtype=float)
    return out


def estimator(metric: str, cases: list[RecordedCase]) -> Estimator | None:
    """How to rebuild `metric` from these case records (None when they do not carry what it needs)."""
    if not cases:
        return None
    match = _QUANTILE.match(metric)
    if match:
        latencies = [c.latency_ms for c in cases]
        if any(not is_number(v) for v in latencies):
            return None
        return Estimator("quantile", np.array(latencies, dtype=float), q=float(match.group(1)))
    candidates = [RATIOS[metric]] if metric in RATIOS else []
    candidates += [(((key, 1.0),), (("1", 1.0),)) for key in (metric, *ALIASES.get(metric, ()))]
    for num_terms, den_terms in candidates:
        num, den = _sums(cases, num_terms), _sums(cases, den_terms)
        if num is not None and den is not None:
            return Estimator("ratio", num, den)
    return None


@dataclass(frozen=True)
class Difference:
    """b − a for one metric with its bootstrap interval; `significant` when the interval excludes zero."""

    metric: str
    a: float
    b: float
    low: float
    high: float
    paired: bool
    cases: int

    @property
    def delta(self) -> float:
        """b − a."""
        return self.b - self.a

    @property
    def significant(self) -> bool:
        """The interval lies wholly on one side of zero."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"metric": self.metric, "a": self.a, "b": self.b, "delta": self.delta, "low": self.low,
                "high": self.high, "paired": self.paired, "cases": self.cases, "significant": self.significant}


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap(a: Estimator, b: Estimator, metric: str = "", resamples: int = RESAMPLES,
                     level: float = LEVEL, seed: int = SEED) -> Difference:
    """b − a resampling the same case positions in both (a and b hold the same cases in the same order)."""
    if a.size != b.size or a.size == 0:
        raise ValueError("a paired bootstrap needs the same, non-empty set of cases in both cells")
    index = np.random.default_rng(seed).integers(0, a.size, size=(resamples, a.size))
    low, high = _bounds(b.on(index) - a.on(index), level)
    return Difference(metric, a.value(), b.value(), low, high, paired=True, cases=a.size)


def unpaired_bootstrap(a: Estimator, b: Estimator, metric: str = "", resamples: int = RESAMPLES,
                       level: float = LEVEL, seed: int = SEED) -> Difference:
    """b − a resampling each cell's cases on their own (for cells that do not share case ids)."""
    if a.size == 0 or b.size == 0:
        raise ValueError("a bootstrap needs cases in both cells")
    rng = np.random.default_rng(seed)
    index_a = rng.integers(0, a.size, size=(resamples, a.size))
    index_b = rng.integers(0, b.size, size=(resamples, b.size))
    low, high = _bounds(b.on(index_b) - a.on(index_a), level)
    return Difference(metric, a.value(), b.value(), low, high, paired=False, cases=min(a.size, b.size))


def compare_cases(metric: str, cases_a: list[RecordedCase], cases_b: list[RecordedCase]) -> Difference | None:
    """b − a for a metric over two cells' cases: paired on the ids of b when a has all of them (a baseline
    run over more cases is cut to b's), else unpaired; None when the cases cannot rebuild the metric."""
    ids_a = {c.id: i for i, c in enumerate(cases_a)}
    if cases_b and len(ids_a) == len(cases_a) and all(c.id in ids_a for c in cases_b) and \
            len({c.id for c in cases_b}) == len(cases_b):
        cases_a = [cases_a[ids_a[c.id]] for c in cases_b]
        paired = True
    else:
        paired = False
    est_a, est_b = estimator(metric, cases_a), estimator(metric, cases_b)
    if est_a is None or est_b is None:
        return None
    return (paired_bootstrap if paired else unpaired_bootstrap)(est_a, est_b, metric)
