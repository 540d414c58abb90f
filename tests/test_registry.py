"""Every tool is registered once, with a schema derived from its pydantic input model, and runs."""

from types import SimpleNamespace

from tests.test_pipeline import FixedIntent, OneFixCorrector
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore
from tools.registry import TOOL_NAMES, build_tools


def test_registry_binds_every_tool_to_the_assistant_resources(tmp_path, hash_embedder, small_catalog):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert(small_catalog)
    assistant = SimpleNamespace(store=store, corrector=OneFixCorrector(), intent_classifier=FixedIntent(),
                                attribute_parser=AttributeParser.from_products(small_catalog))
    tools = build_tools(assistant)
    assert tuple(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool.description and "query" in tool.args_schema.model_json_schema()["properties"]
    assert tools["correct_spelling"].invoke({"query": "wireless moose"})["corrected"] == "wireless mouse"
    assert tools["parse_attributes"].invoke({"query": "蓝色T恤 100元以内"})["price_max"] == 100
    assert tools["classify_intent"].invoke({"query": "我的订单到哪了"})["label"] == "order_status"
    assert tools["search_catalog"].invoke({"query": "wireless mouse", "k": 1})[0]["id"] == "1"
