import json

import pytest

from eval.datasets import load_jsonl
from eval.suites import retrieval
from tools.core.errors import InputError
from tools.core.types import Product, QueryAnalysis, SearchHit


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_dataset_keeps_valid_lines_and_reports_bad_ones(tmp_path):
    path = _write(tmp_path / "d.jsonl", [
        json.dumps({"query": "hp toner", "relevant": {"1": 3, "2": 1}}),
        "not json",
        json.dumps({"query": "", "relevant": {}}),
        json.dumps({"query": "mouse", "relevant": ["5", 6]}),
    ])
    data = load_jsonl(path, retrieval.Case)
    assert [c.query for c in data.cases] == ["hp toner", "mouse"]
    assert data.cases[1].relevant == {"5": 1.0, "6": 1.0}
    assert [line for line, _ in data.rejected] == [2, 3]


def test_dataset_without_valid_cases_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no valid cases"):
        load_jsonl(_write(tmp_path / "d.jsonl", ["{}"]), retrieval.Case)
    with pytest.raises(InputError, match="not found"):
        load_jsonl(tmp_path / "missing.jsonl", retrieval.Case)


class RankingAssistant:
    """Returns a fixed ranking per query; raises for one query to check failure isolation."""

    def __init__(self, rankings):
        self.rankings = rankings

    def analyze(self, query, k=10, mode="hybrid"):
        if query == "boom":
            raise RuntimeError("store went away")
        ids = self.rankings.get(query, [])
        hits = [SearchHit(product=Product(id=i, title=i), score=1.0) for i in ids[:k]]
        return QueryAnalysis(query=query, normalized_query=query, products=hits)


def test_retrieval_suite_scores_and_isolates_failures(tmp_path):
    path = _write(tmp_path / "d.jsonl", [
        json.dumps({"query": "a", "relevant": {"1": 1}}),
        json.dumps({"query": "b", "relevant": {"2": 1}}),
        json.dumps({"query": "boom", "relevant": {"3": 1}}),
    ])
    assistant = RankingAssistant({"a": ["1", "9"], "b": ["9", "2"]})
    result = retrieval.run(assistant, load_jsonl(path, retrieval.Case))
    assert result["queries"] == 3 and result["failed"] == 1
    assert result["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert result["recall@10"] == pytest.approx(2 / 3, abs=1e-4)
