"""Fitting the ranking model on judged queries: the fusion's lexical weight and the kind and attribute bonuses by
grid search, the learned ranker by pairwise logistic regression; folds over queries for cross-validation."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np

from eval.metrics import ndcg_at
from tools.ranking import LanguageModel
from tools.ranking_features import FEATURES

LEXICAL_GRID = tuple(round(0.05 * i, 2) for i in range(21))
KIND_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)
KIND_PENALTY_GRID = (0.0, 0.05, 0.1, 0.2)
ATTRIBUTE_GRID = (0.0, 0.05, 0.1, 0.2)
PAIRS_PER_QUERY = 400
C = 1.0


@dataclass
class QueryFeatures:
    """One judged query's candidates: ids (in the order searched), features and judgements."""

    query: str
    ids: list[str]
    x: np.ndarray
    relevant: dict[str, float]

    def grades(self) -> np.ndarray:
        """Each candidate's grade (unjudged = 0)."""
        return np.array([self.relevant.get(i, 0.0) for i in self.ids], dtype=np.float64)


def fold_of(query: str, folds: int) -> int:
    """A query's fold: a fixed hash, so every run splits the same way."""
    return int(hashlib.sha256(query.encode("utf-8")).hexdigest()[:8], 16) % folds


def ndcg_of(queries: list[QueryFeatures], score) -> float:
    """Mean nDCG@10 when each query's candidates are ordered by `score(x)`."""
    if not queries:
        return 0.0
    total = 0.0
    for q in queries:
        order = np.argsort(-score(q.x), kind="stable")
        total += ndcg_at([q.ids[j] for j in order], q.relevant, 10)
    return total / len(queries)


def fit_fusion(queries: list[QueryFeatures], kinds: bool = True, attributes: bool = True) -> LanguageModel:
    """The lexical weight, then the kind bonus and penalty and the attribute bonus, that maximise mean nDCG@10
    (ties: the first)."""
    best = LanguageModel()
    best_score = -1.0
    for lw in LEXICAL_GRID:
        model = LanguageModel(lexical_weight=lw)
        got = ndcg_of(queries, model.fused)
        if got > best_score + 1e-9:
            best, best_score = model, got
    kind_grid = KIND_GRID if kinds else (0.0,)
    penalty_grid = KIND_PENALTY_GRID if kinds else (0.0,)
    attr_grid = ATTRIBUTE_GRID if attributes else (0.0,)
    base = best.lexical_weight
    for kb, kp, ab in itertools.product(kind_grid, penalty_grid, attr_grid):
        model = LanguageModel(lexical_weight=base, kind_bonus=kb, attribute_bonus=ab, kind_penalty=kp)
        got = ndcg_of(queries, model.fused)
        if got > best_score + 1e-9:
            best, best_score = model, got
    return best


def pairwise_data(queries: list[QueryFeatures], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature differences of (better, worse) candidate pairs, both orientations, weighted so every query
    counts the same."""
    rng = np.random.default_rng(seed)
    xs, ys, ws = [], [], []
    for q in queries:
        grades = q.grades()
        pairs = [(i, j) for i in np.flatnonzero(grades > 0) for j in np.flatnonzero(grades < grades[i])]
        if not pairs:
            continue
        if len(pairs) > PAIRS_PER_QUERY:
            pairs = [pairs[p] for p in rng.choice(len(pairs), PAIRS_PER_QUERY, replace=False)]
        diff = np.array([q.x[i] - q.x[j] for i, j in pairs])
        xs += [diff, -diff]
        ys += [np.ones(len(pairs)), np.zeros(len(pairs))]
        ws += [np.full(2 * len(pairs), 1.0 / len(pairs))]
    if not xs:
        return np.zeros((0, len(FEATURES))), np.zeros(0), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


def fit_ranker(queries: list[QueryFeatures], fusion: LanguageModel) -> LanguageModel:
    """The fusion's weights plus a linear ranker fitted by pairwise logistic regression (no intercept)."""
    from sklearn.linear_model import LogisticRegression

    x, y, w = pairwise_data(queries)
    if len(y) == 0:
        return fusion
    clf = LogisticRegression(C=C, fit_intercept=False, max_iter=2000)
    clf.fit(x, y, sample_weight=w * len(queries))
    weights = [round(float(v), 5) for v in clf.coef_[0]]
    return LanguageModel(fusion.lexical_weight, fusion.kind_bonus, fusion.attribute_bonus, weights,
                         fusion.kind_penalty)


def fit_language(queries: list[QueryFeatures], learned: bool = True, kinds: bool = True,
                 attributes: bool = True) -> LanguageModel:
    """Fusion weights by grid search, and the learned ranker when asked for."""
    fusion = fit_fusion(queries, kinds, attributes)
    return fit_ranker(queries, fusion) if learned else fusion


def cross_validate(queries: list[QueryFeatures], folds: int, learned: bool = True) -> list[dict[str, float]]:
    """Per fold: held-out nDCG@10 of the fused score and of the learned ranker fitted on the other folds."""
    out = []
    for fold in range(folds):
        train = [q for q in queries if fold_of(q.query, folds) != fold]
        test = [q for q in queries if fold_of(q.query, folds) == fold]
        model = fit_language(train, learned=learned)
        row = {"fold": fold, "queries": len(test), "fused": round(ndcg_of(test, model.fused), 4)}
        if learned:
            row["learned"] = round(ndcg_of(test, lambda x, m=model: m.score(x, True)), 4)
        out.append(row)
    return out
