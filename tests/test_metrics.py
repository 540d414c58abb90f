import math

import pytest

from eval.metrics import dcg, mrr_at, ndcg_at, percentile, recall_at


def test_ndcg_perfect_and_reversed():
    relevant = {"a": 3, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant) == pytest.approx(1.0)
    worse = ndcg_at(["c", "b", "a"], relevant)
    expected = dcg([0, 1, 3]) / dcg([3, 1])
    assert worse == pytest.approx(expected) and worse < 1


def test_ndcg_known_value():
    # gains 2^3-1=7 at rank 2 only: 7/log2(3) over ideal 7/log2(2)
    assert ndcg_at(["x", "a"], {"a": 3}) == pytest.approx(1 / math.log2(3))


def test_recall_and_mrr():
    relevant = {"a": 2, "b": 1, "z": 0}
    ranked = ["c", "b", "d", "a"]
    assert recall_at(ranked, relevant, 2) == 0.5
    assert recall_at(ranked, relevant, 10) == 1.0
    assert mrr_at(ranked, relevant) == 0.5
    assert mrr_at(["c"], relevant) == 0.0
    assert ndcg_at(ranked, {"z": 0}) == 0.0


def test_percentile():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([], 95) == 0.0
