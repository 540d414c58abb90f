"""get_product and compare_products over a real on-disk catalog store."""

import pytest

from tools.catalog_store import CatalogStore
from tools.products import make_product_tools


@pytest.fixture
def tools(tmp_path, hash_embedder, small_catalog):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert(small_catalog)
    get_product, compare_products = make_product_tools(store)
    return get_product, compare_products


def test_schemas_are_derived_from_the_input_models(tools):
    get_product, compare_products = tools
    assert get_product.name == "get_product"
    assert get_product.args_schema.model_json_schema()["required"] == ["product_id"]
    ids = compare_products.args_schema.model_json_schema()["properties"]["product_ids"]
    assert (ids["minItems"], ids["maxItems"]) == (2, 4)


def test_get_product_returns_the_full_record(tools):
    get_product, _ = tools
    product = get_product.invoke({"product_id": "4"})
    assert product == {"id": "4", "title": "夏季纯棉蓝色T恤 男 短袖", "brand": "优衣库", "category": "T恤",
                       "price": 79.0, "currency": "CNY", "color": "blue", "attributes": {}}


def test_an_unknown_product_is_a_tool_error_message(tools):
    get_product, _ = tools
    assert get_product.invoke({"product_id": "nope"}) == "no product with id 'nope'; use an id from search results"


def test_compare_products_side_by_side(tools):
    _, compare = tools
    out = compare.invoke({"product_ids": ["1", "8", "2"]})
    assert [p["id"] for p in out["products"]] == ["1", "8", "2"]
    assert set(out["products"][0]) == {"id", "title", "brand", "price", "currency", "color", "category",
                                       "attributes"}
    assert out["products"][1]["brand"] == "Dell" and out["products"][1]["price"] == 39.0
    assert out["cheapest"] == "1"
    assert "price" in out["fields_that_differ"] and "currency" not in out["fields_that_differ"]


def test_mixed_currencies_have_no_cheapest(tools):
    _, compare = tools
    out = compare.invoke({"product_ids": ["1", "4"]})
    assert out["cheapest"] is None and "currency" in out["fields_that_differ"]


def test_unknown_ids_are_listed_in_the_error(tools):
    _, compare = tools
    message = compare.invoke({"product_ids": ["1", "x9", "8", "y7"]})
    assert message == "unknown product id(s): x9, y7; found: 1, 8. Use ids from search results"


@pytest.mark.parametrize("ids, words", [
    (["1"], "at least 2 items"),
    (["1", "2", "3", "4", "5"], "at most 4 items"),
])
def test_wrong_number_of_ids_is_explained(tools, ids, words):
    _, compare = tools
    message = compare.invoke({"product_ids": ids})
    assert message.startswith("invalid arguments: product_ids:") and words in message


def test_the_same_id_twice_is_not_a_comparison(tools):
    _, compare = tools
    assert compare.invoke({"product_ids": ["1", "1"]}) == "give at least two different product ids to compare"
