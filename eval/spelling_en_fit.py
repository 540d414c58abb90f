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
from tools.spelling_en_lm import FEATURES, EditScorer

MIN_LOG_COUNT = 3
CHANGED_CAP = 0.010
HIDDEN = 16
DECAY = 1e-3


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


def position_choices(item: QueryOptions) -> list[tuple[list[list[float]], int]]:
    """Training rows of the listwise scorer: each token's candidate vectors and which one is right (-1: the token
    as typed). Tokens where neither is right (the right rewrite was never proposed) teach nothing and are left out."""
    gold = gold_spans(item.tokens, item.expected)
    out = []
    for i, options in enumerate(item.positions):
        if not options:
            continue
        labels = [label for _, _, _, label in options]
        if gold.get((i, i + 1)) == [item.tokens[i]]:
            out.append(([v for _, _, v, _ in options], -1))
        elif any(labels):
            out.append(([v for _, _, v, _ in options], labels.index(True)))
    return out


def fit(items: Sequence[QueryOptions], hidden: int = HIDDEN, decay: float = DECAY, seed: int = 0) -> EditScorer:
    """Fit the edit scorer: a one-hidden-layer network scoring each candidate, trained so that the softmax over a
    token's candidates and the typed token (score 0) puts its weight on the right one (L-BFGS, weight decay on the
    two weight matrices). Its threshold is a placeholder 0.5: `pick_threshold` chooses the real one."""
    import torch

    rows = [row for it in items for row in position_choices(it)]
    x = np.array([v for vectors, _ in rows for v in vectors])[:, 1:]
    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std > 1e-6, std, 1.0)  # a feature that never varies here is left as it is
    sizes = np.array([len(vectors) for vectors, _ in rows])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = torch.tensor(np.repeat(np.arange(len(rows)), sizes))
    answers = np.array([answer for _, answer in rows])
    right = torch.tensor(starts[answers >= 0] + answers[answers >= 0])
    z = torch.tensor((x - mean) / scale, dtype=torch.float64)
    torch.manual_seed(seed)
    first, last = torch.nn.Linear(z.shape[1], hidden).double(), torch.nn.Linear(hidden, 1).double()
    net = torch.nn.Sequential(first, torch.nn.Tanh(), last)
    optimiser = torch.optim.LBFGS(net.parameters(), max_iter=300, line_search_fn="strong_wolfe")
    n = len(rows)

    def loss_of() -> torch.Tensor:
        optimiser.zero_grad()
        scores = net(z).squeeze(1)
        top = torch.zeros(n, dtype=scores.dtype).scatter_reduce(0, group, scores, "amax", include_self=True).detach()
        mass = torch.zeros(n, dtype=scores.dtype).index_add_(0, group, torch.exp(scores - top[group]))
        log_total = top + torch.log(mass + torch.exp(-top))
        loss = (log_total.sum() - scores[right].sum()) / n
        loss = loss + decay * (first.weight.square().sum() + last.weight.square().sum())
        loss.backward()
        return loss

    optimiser.step(loss_of)
    return EditScorer({
        "mean": mean.tolist(), "scale": scale.tolist(),
        "hidden": first.weight.detach().numpy().tolist(), "hidden_bias": first.bias.detach().numpy().tolist(),
        "out": last.weight.detach().numpy()[0].tolist(), "out_bias": float(last.bias.detach()[0]),
        "threshold": 0.5})


def decode(item: QueryOptions, scorer: EditScorer, threshold: float) -> list[str]:
    """The greedy left-to-right decision the corrector makes, replayed on collected candidates."""
    out, i = [], 0
    while i < len(item.tokens):
        options = item.positions[i]
        probabilities = scorer.probabilities([v for _, _, v, _ in options])
        k = int(np.argmax(probabilities)) if options else -1
        if k >= 0 and probabilities[k] >= threshold:
            out += options[k][1]
            i += options[k][0]
        else:
            out.append(item.tokens[i])
            i += 1
    return out


def changed_rate(items: Sequence[QueryOptions], scorer: EditScorer, threshold: float) -> float:
    """Share of correct queries the decoder would change."""
    return sum(decode(it, scorer, threshold) != it.tokens for it in items) / max(1, len(items))


def exact_rate(items: Sequence[QueryOptions], scorer: EditScorer, threshold: float) -> float:
    """Share of queries whose decoded words equal the expected words."""
    return sum(decode(it, scorer, threshold) == it.expected for it in items) / max(1, len(items))


def top_probability(item: QueryOptions, scorer: EditScorer) -> float:
    """The most probable edit anywhere in the query: the decoder changes a correct query exactly when this
    reaches the threshold (it meets every token until its first edit)."""
    return max((max(scorer.probabilities([v for _, _, v, _ in options]))
                for options in item.positions if options), default=0.0)


def pick_threshold(no_change_sets: Sequence[Sequence[QueryOptions]], scorer: EditScorer, cap: float) -> float:
    """The lowest threshold that changes at most `cap` of the correct queries in every set."""
    tops = [np.array([top_probability(it, scorer) for it in items]) for items in no_change_sets]
    for threshold in np.arange(0.30, 0.991, 0.01):
        if all(float(np.mean(t >= round(float(threshold), 2))) <= cap for t in tops if len(t)):
            return round(float(threshold), 2)
    return 0.99


def fold_corrector(base: EnglishCorrector, queries: list[str]) -> EnglishCorrector:
    """A copy of the base corrector that also learned these correct queries as its query log."""
    english = pickle.loads(pickle.dumps(base))  # noqa: S301 - our own object
    english.learn_queries(queries, MIN_LOG_COUNT)
    return english


def scorer_file(scorer: EditScorer, threshold: float, note: str) -> dict:
    """The content of resources/en_scorer.json."""
    data = {k: v for k, v in scorer.data.items() if k not in ("features", "threshold", "note")}
    rounded = {k: [[round(x, 6) for x in row] for row in v] if k == "hidden" else
               [round(x, 6) for x in v] if isinstance(v, list) else round(v, 6) for k, v in data.items()}
    return {"features": list(FEATURES), **rounded, "threshold": threshold, "note": note}


def base_english(products: Sequence) -> EnglishCorrector:
    """The English corrector for a catalog, as `SpellCorrector.build` makes it (no query log)."""
    from tools.spelling_en import general_bigram_counts, general_word_counts

    english = EnglishCorrector.build(general_word_counts(), general_bigram_counts())
    english.add_terms([p.title for p in products] + sorted({p.category for p in products if p.category}))
    english.add_terms(sorted({p.brand for p in products if p.brand}), protected=True)
    return english


@dataclass
class Fold:
    """One fold's lines: the corrector that learned the other folds' corrected queries as its query log, and the
    fold's candidates for its typed and corrected queries with that corrector and with the base one (no query log:
    a shop whose log holds none of these words)."""

    english: EnglishCorrector
    typos: list[QueryOptions]
    correct: list[QueryOptions]
    base_typos: list[QueryOptions]
    base_correct: list[QueryOptions]


def fold_items(base: EnglishCorrector, pairs: list[tuple[str, str]], folds: int) -> list[Fold]:
    """The candidates of every fold (see `Fold`)."""
    out = []
    for f in range(folds):
        english = fold_corrector(base, [e for i, (_, e) in enumerate(pairs) if i % folds != f])
        mine = [p for i, p in enumerate(pairs) if i % folds == f]
        out.append(Fold(english, [collect(english, q, e) for q, e in mine], [collect(english, e, e) for _, e in mine],
                        [collect(base, q, e) for q, e in mine], [collect(base, e, e) for _, e in mine]))
    return out


def fit_without(folds: Sequence[Fold], held_out: int | None, cap: float = CHANGED_CAP) -> tuple[EditScorer, float]:
    """The scorer fitted on every fold but `held_out` (None: on all), both with and without the query log, and the
    lowest threshold that changes at most `cap` of those folds' corrected queries either way."""
    train = [f for k, f in enumerate(folds) if k != held_out]
    scorer = fit([it for f in train for it in f.typos + f.correct + f.base_typos + f.base_correct])
    threshold = pick_threshold([[it for f in train for it in f.correct], [it for f in train for it in f.base_correct]],
                               scorer, cap)
    return scorer, threshold
