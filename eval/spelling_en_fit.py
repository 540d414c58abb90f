"""Fitting and cross-validating the English corrector's edit scorer on real query -> corrected query pairs.

Every query is cut into tokens; each candidate rewrite the corrector proposes is labelled right when the aligned
expected words say so. The corrected sides double as a no-change set (real queries typed correctly). Folds are
by line; each fold's candidates are generated with the vocabulary learned from the other folds only, as a shop
that feeds its query log would see an unseen query."""

from __future__ import annotations

import difflib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.spelling_en import TOKEN, EnglishCorrector
from tools.spelling_en_lm import FEATURES, probability

MIN_LOG_COUNT = 3
CHANGED_CAP = 0.015


@dataclass
class QueryOptions:
    """The candidate rewrites at each token of one query, the expected words, and the labels."""

    tokens: list[str]
    expected: list[str]
    positions: list[list[tuple[int, list[str], list[float], bool]]] = field(default_factory=list)


def words_of(text: str) -> list[str]:
    """The corrector's tokens of a text, lower-cased."""
    return [m.group().lower() for m in TOKEN.finditer(text)]


def gold_spans(tokens: list[str], expected: list[str]) -> dict[tuple[int, int], list[str]]:
    """Which expected words each span of typed tokens should become (equal-sized blocks word by word)."""
    gold: dict[tuple[int, int], list[str]] = {}
    matcher = difflib.SequenceMatcher(a=tokens, b=expected, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                gold[(i1 + k, i1 + k + 1)] = expected[j1 + k:j1 + k + 1]
        else:
            gold[(i1, i2)] = expected[j1:j2]
    return gold


def collect(english: EnglishCorrector, query: str, expected: str) -> QueryOptions:
    """Every candidate rewrite of the query with its features and whether it matches the expected words."""
    matches = list(TOKEN.finditer(query))
    tokens = [m.group().lower() for m in matches]
    out = QueryOptions(tokens, words_of(expected))
    gold = gold_spans(tokens, out.expected)
    for i in range(len(tokens)):
        left = tokens[i - 1] if i else None
        out.positions.append([(o.span, o.words, o.vector, gold.get((i, i + o.span)) == o.words)
                              for o in english.options(matches, tokens, i, left)])
    return out


def decode(item: QueryOptions, weights: np.ndarray, threshold: float) -> list[str]:
    """The greedy left-to-right decision the corrector makes, replayed on collected candidates."""
    out, i = [], 0
    while i < len(item.tokens):
        best = max(((probability(list(weights), v), span, words) for span, words, v, _ in item.positions[i]),
                   default=None, key=lambda t: t[0])
        if best and best[0] >= threshold:
            out += best[2]
            i += best[1]
        else:
            out.append(item.tokens[i])
            i += 1
    return out


def fit(items: Sequence[QueryOptions], c: float = 1.0) -> np.ndarray:
    """Logistic regression over every candidate (bias as the first feature), weights on the raw features."""
    from sklearn.linear_model import LogisticRegression

    rows = [(v, label) for it in items for pos in it.positions for _, _, v, label in pos]
    x = np.array([v for v, _ in rows])[:, 1:]
    y = np.array([label for _, label in rows], dtype=int)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / std, y)
    w = model.coef_[0] / std
    return np.concatenate([[model.intercept_[0] - float(w @ mean)], w])


def changed_rate(items: Sequence[QueryOptions], weights: np.ndarray, threshold: float) -> float:
    """Share of correct queries the decoder would change."""
    return sum(decode(it, weights, threshold) != it.tokens for it in items) / max(1, len(items))


def exact_rate(items: Sequence[QueryOptions], weights: np.ndarray, threshold: float) -> float:
    """Share of queries whose decoded words equal the expected words."""
    return sum(decode(it, weights, threshold) == it.expected for it in items) / max(1, len(items))


def top_probability(item: QueryOptions, weights: np.ndarray) -> float:
    """The most probable edit anywhere in the query: the decoder changes a correct query exactly when this
    reaches the threshold (it meets every token until its first edit)."""
    w = list(weights)
    return max((probability(w, v) for pos in item.positions for _, _, v, _ in pos), default=0.0)


def pick_threshold(no_change: Sequence[QueryOptions], weights: np.ndarray, cap: float) -> float:
    """The lowest threshold that changes at most `cap` of the correct queries."""
    tops = np.array([top_probability(it, weights) for it in no_change])
    for threshold in np.arange(0.30, 0.991, 0.01):
        if float(np.mean(tops >= round(float(threshold), 2))) <= cap:
            return round(float(threshold), 2)
    return 0.99


def fold_corrector(base: EnglishCorrector, queries: list[str]) -> EnglishCorrector:
    """A copy of the base corrector that also learned these correct queries as its query log."""
    english = pickle.loads(pickle.dumps(base))  # noqa: S301 - our own object
    english.learn_queries(queries, MIN_LOG_COUNT)
    return english


def scorer_file(weights: np.ndarray, threshold: float, note: str) -> dict:
    """The content of resources/en_scorer.json."""
    return {"features": list(FEATURES), "weights": [round(float(w), 6) for w in weights],
            "threshold": threshold, "note": note}


def base_english(products: Sequence) -> EnglishCorrector:
    """The English corrector for a catalog, as `SpellCorrector.build` makes it (no query log)."""
    from tools.spelling_en import general_bigram_counts, general_word_counts

    english = EnglishCorrector.build(general_word_counts(), general_bigram_counts())
    english.add_terms([p.title for p in products] + sorted({p.category for p in products if p.category}))
    english.add_terms(sorted({p.brand for p in products if p.brand}), protected=True)
    return english


def fold_items(base: EnglishCorrector, pairs: list[tuple[str, str]], folds: int
               ) -> list[tuple[EnglishCorrector, list[QueryOptions], list[QueryOptions]]]:
    """For each fold: the corrector that learned the other folds' corrected queries, and the fold's candidates
    for its typed queries and for its corrected queries (the no-change set)."""
    out = []
    for f in range(folds):
        english = fold_corrector(base, [e for i, (_, e) in enumerate(pairs) if i % folds != f])
        mine = [p for i, p in enumerate(pairs) if i % folds == f]
        typos = [collect(english, q, e) for q, e in mine]
        correct = [collect(english, e, e) for _, e in mine]
        out.append((english, typos, correct))
    return out
