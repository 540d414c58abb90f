"""Property-based tests of the attribute parser: any text gives a typed result; prices are ordered, spans come from
the query, the result is deterministic and does not depend on how the query was normalised."""

from __future__ import annotations

import pytest
from fuzz.checks import build_parser, check_parse
from fuzz.strategies import examples, queries
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tools.attributes import AttributeParser, ParsedAttributes

FUZZ = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def parser() -> AttributeParser:
    return build_parser()


@FUZZ
@given(text=queries())
@example(text="红色 不要红色")
@example(text="between 10 and 5 dollars")
@example(text="\x1b[31m蓝色\x00T恤 ５０元到１００元")
def test_any_text_gives_a_consistent_typed_result(parser, text):
    check_parse(parser, text)


@FUZZ
@given(low=st.integers(0, 100_000), high=st.integers(0, 100_000), unit=st.sampled_from(["元", "块", " dollars"]))
def test_a_price_range_is_ordered_whichever_way_it_is_written(parser, low, high, unit):
    result = check_parse(parser, f"T恤 {low}{unit}到{high}{unit}" if unit != " dollars"
                         else f"mouse between {low} and {high}{unit}")
    bounds = [b for b in (result.price_min, result.price_max) if b is not None]
    assert bounds == sorted(bounds)
    assert set(bounds) <= {float(low), float(high)}


@FUZZ
@given(value=st.one_of(st.none(), st.integers(), st.binary(max_size=10), st.lists(st.text(max_size=3))))
def test_what_is_not_text_gives_an_empty_result(parser, value):
    result = parser.parse(value)
    assert isinstance(result, ParsedAttributes) and result.is_empty() and result.rest == ""


def test_a_colour_that_is_also_refused_is_not_asked_for(parser):
    result = parser.parse("红色 不要红色 T恤")
    assert result.color is None and result.exclude_colors == ["red"]
    assert "color" not in result.spans and result.to_filters().colors == []
    kept = parser.parse("蓝色 红色 不要红色")
    assert kept.color == "blue" and kept.exclude_colors == ["red"] and kept.spans["color"] == ["蓝色"]


def test_a_brand_that_is_also_refused_is_not_asked_for(parser):
    result = parser.parse("nike running shoes not nike")
    assert result.brand is None and result.exclude_brands and result.to_filters().brands == []
