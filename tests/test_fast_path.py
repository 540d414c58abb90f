"""The fast path: parsed attributes become filters, filters relax when nothing matches, bad input is refused."""

import pytest
from fakes import FixedIntent

from assistant.fast_path import analyze_query
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore
from tools.core.errors import InputError


@pytest.fixture
def store(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "catalog", hash_embedder)
    s.upsert(small_catalog)
    return s


@pytest.fixture
def parser(small_catalog):
    return AttributeParser.from_products(small_catalog)


def analyze(store, parser, query, k=10):
    return analyze_query(store, query, max_chars=512, k=k, parser=parser)


def test_colour_and_price_in_chinese_become_filters(store, parser):
    result = analyze(store, parser, "蓝色T恤 50元到100元")
    assert result.filters.colors == ["blue"]
    assert (result.filters.price_min, result.filters.price_max, result.filters.currency) == (50, 100, "CNY")
    assert [h.product.id for h in result.products] == ["4"]
    assert result.attributes["color"] == "blue" and not result.relaxed
    assert [t.stage for t in result.timings] == ["validate", "normalize", "attributes", "search"]


def test_every_product_satisfies_english_filters(store, parser):
    result = analyze(store, parser, "black wireless keyboard under $50")
    assert result.products
    for hit in result.products:
        assert hit.product.price <= 50 and hit.product.color == "black" and hit.product.currency == "USD"


def test_yuan_bound_does_not_select_dollar_prices(store, parser):
    result = analyze(store, parser, "100元以内")
    assert {h.product.currency for h in result.products} == {"CNY"}


def test_negation_excludes_colour(store, parser):
    result = analyze(store, parser, "连衣裙 不要红色")
    assert "5" not in [h.product.id for h in result.products]


def test_filters_relax_in_order_and_say_which(store, parser):
    result = analyze(store, parser, "蓝色T恤 1000元以上")
    assert result.relaxed == ["price"]
    assert [h.product.id for h in result.products] == ["4"]
    assert "relaxed: price" in result.notes[0]


def test_colour_named_only_in_the_title_is_found(tmp_path, hash_embedder, small_catalog, parser):
    no_colour = [p.model_copy(update={"color": None}) for p in small_catalog]
    s = CatalogStore(tmp_path / "c2", hash_embedder)
    s.upsert(no_colour)
    result = analyze(s, parser, "蓝色 短袖")
    assert result.filters.colors == ["blue"] and [h.product.id for h in result.products] == ["4"]


@pytest.mark.parametrize("bad", ["", " ", "x" * 10_000, b"\x00\xff\xfe", "\x01\x02\x03"])
def test_bad_input_is_refused_before_any_work(store, parser, bad):
    with pytest.raises(InputError):
        analyze(store, parser, bad)


class OneFixCorrector:
    """A corrector that knows one misspelling."""

    def correct(self, query):
        from tools.spelling import CorrectedQuery, Edit

        if "moose" not in query:
            return CorrectedQuery(original=query, corrected=query, confidence=1.0)
        return CorrectedQuery(original=query, corrected=query.replace("moose", "mouse"), confidence=0.9,
                              edits=[Edit(source="moose", target="mouse", position=query.index("moose"),
                                          reason="spelling")])


def test_search_uses_the_corrected_query_and_says_so(store, parser):
    result = analyze_query(store, "wireless moose", max_chars=512, parser=parser, corrector=OneFixCorrector())
    assert result.corrected_query == "wireless mouse"
    assert result.correction["edits"][0]["target"] == "mouse"
    assert result.products[0].product.id == "1"
    assert "showing results for 'wireless mouse'; search instead for 'wireless moose'" in result.notes
    untouched = analyze_query(store, "wireless mouse", max_chars=512, parser=parser, corrector=OneFixCorrector())
    assert untouched.corrected_query is None and not untouched.notes


def test_relaxation_drops_one_filter_when_that_is_enough(store, parser):
    # 优衣库 sells a blue T-shirt only: dropping the colour alone is enough
    result = analyze(store, parser, "红色 优衣库")
    assert result.relaxed == ["color"] and [h.product.id for h in result.products] == ["4"]
    assert result.filters.brands


def test_relaxation_drops_more_when_one_is_not_enough(store, parser):
    result = analyze(store, parser, "红色 优衣库 50元以内")
    assert result.relaxed == ["price", "color"] and [h.product.id for h in result.products] == ["4"]


def test_parsed_category_ranks_first_but_excludes_nothing(store, parser):
    result = analyze(store, parser, "连衣裙")
    assert result.attributes["category"] == "连衣裙" and result.filters.categories == []
    assert result.products[0].product.id == "5" and len(result.products) > 1


def test_filters_relax_when_nothing_of_the_named_category_matches(store, parser):
    # no red T-shirt: red products exist (a dress), but the shopper named T恤, so the colour is relaxed
    result = analyze(store, parser, "红色T恤")
    assert result.relaxed == ["color"] and result.products[0].product.id == "4"


def test_intent_is_reported_with_its_timing(store, parser):
    result = analyze_query(store, "我的订单到哪了", max_chars=512, parser=parser, intent=FixedIntent("order_status"))
    assert result.intent["label"] == "order_status"
    assert "intent" in [t.stage for t in result.timings]
