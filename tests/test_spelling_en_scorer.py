"""The English edit scorer: a softmax over a token's candidates and the token as typed, and its fitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.spelling_en_fit import QueryOptions, decode, fit, pick_threshold, scorer_file
from tools.spelling_en_lm import FEATURES, SCORER_FILE, EditScorer, LetterModel, shipped_scorer

WIDTH = len(FEATURES) - 1


def _scorer(out_bias: float, out: float = 0.0) -> EditScorer:
    """A scorer whose score is out_bias + out * tanh(first feature after the bias)."""
    hidden = [[1.0] + [0.0] * (WIDTH - 1)]
    return EditScorer({"mean": [0.0] * WIDTH, "scale": [1.0] * WIDTH, "hidden": hidden, "hidden_bias": [0.0],
                       "out": [out], "out_bias": out_bias, "threshold": 0.6})


def _vector(first: float) -> list[float]:
    return [1.0, first] + [0.0] * (WIDTH - 1)


def test_the_typed_token_keeps_the_probability_its_candidates_do_not_take():
    # score 0 for every candidate: the token as typed is one more option of the same weight
    probabilities = _scorer(0.0).probabilities([_vector(0.0), _vector(0.0), _vector(0.0)])
    assert probabilities == pytest.approx([0.25, 0.25, 0.25])
    assert _scorer(0.0).probabilities([]) == []


def test_a_better_scored_candidate_takes_more_and_scores_never_overflow():
    scorer = _scorer(0.0, out=4.0)
    low, high = scorer.probabilities([_vector(-1.0), _vector(1.0)])
    assert high > 0.5 > low
    huge = _scorer(800.0).probabilities([_vector(0.0)])
    assert huge[0] == pytest.approx(1.0) and np.isfinite(huge).all()


def test_a_scorer_of_the_wrong_shape_is_refused():
    data = {"mean": [0.0] * 3, "scale": [1.0] * 3, "hidden": [[0.0] * 3], "hidden_bias": [0.0], "out": [0.0],
            "out_bias": 0.0, "threshold": 0.5}
    with pytest.raises(ValueError, match="features"):
        EditScorer(data)


def test_the_shipped_scorer_names_its_features_and_threshold():
    data = json.loads(SCORER_FILE.read_text(encoding="utf-8"))
    assert data["features"] == list(FEATURES)
    assert 0.3 <= shipped_scorer().threshold <= 0.99


def _item(right: int | None, typed_ok: bool, closeness: list[float]) -> QueryOptions:
    """One token 'tokn' with candidates whose first feature is `closeness`; `right` marks the right one."""
    words = [[f"cand{k}"] for k in range(len(closeness))]
    expected = ["tokn"] if typed_ok else words[right or 0]
    item = QueryOptions(["tokn"], expected)
    item.positions.append([(1, w, _vector(c), k == right) for k, (w, c) in enumerate(zip(words, closeness,
                                                                                          strict=True))])
    return item


def test_fitting_learns_which_candidate_is_right_and_when_to_leave_the_token():
    rng = np.random.default_rng(0)
    typos, correct = [], []
    for _ in range(150):
        # a typo: its right candidate is the one with the high first feature
        closeness = list(rng.uniform(-2.0, 0.0, size=3))
        right = int(rng.integers(3))
        closeness[right] = float(rng.uniform(1.0, 2.0))
        typos.append(_item(right, False, closeness))
        # a correct token: every candidate is far
        correct.append(_item(None, True, list(rng.uniform(-2.0, 0.0, size=3))))
    scorer = fit(typos + correct, hidden=4)
    threshold = pick_threshold([correct], scorer, 0.02)
    assert sum(decode(it, scorer, threshold) == it.expected for it in typos) >= 140
    assert sum(decode(it, scorer, threshold) != it.tokens for it in correct) <= 3
    written = scorer_file(scorer, threshold, "test")
    assert written["features"] == list(FEATURES) and written["threshold"] == threshold
    again = EditScorer(written)
    vectors = [_vector(1.5), _vector(-1.0)]
    assert again.probabilities(vectors) == pytest.approx(scorer.probabilities(vectors), abs=1e-5)


def test_the_letter_model_tells_letter_salad_from_words_it_never_saw():
    model = LetterModel(["hover", "power", "tower", "belts", "bolts", "film", "filter", "wall", "walnut"])
    assert model.mean_logp("hoover") > model.mean_logp("hoovwe")
    assert model.mean_logp("belts") > model.mean_logp("beltsr")
    assert model.mean_logp("filter") > model.mean_logp("filtm")
    assert model.mean_logp("walt") > model.mean_logp("wtla")  # unseen, but built of the words' own sequences
    assert all(np.isfinite(model.mean_logp(text)) for text in ("", "q", "zzzz"))
