"""Every tool is registered once, with a schema derived from its pydantic input model, and runs."""

from types import SimpleNamespace

from tests.test_pipeline import FixedIntent, OneFixCorrector
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore
from tools.expansion import build_default_expander
from tools.history import HistoryStore
from tools.recommend import ModelCache
from tools.registry import TOOL_NAMES, build_tools


def test_registry_binds_every_tool_to_the_assistant_resources(tmp_path, hash_embedder, small_catalog):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert(small_catalog)
    history = HistoryStore(data_dir=tmp_path)
    assistant = SimpleNamespace(store=store, corrector=OneFixCorrector(), intent_classifier=FixedIntent(),
                                attribute_parser=AttributeParser.from_products(small_catalog), history=history,
                                item_model=ModelCache(history),
                                expander=build_default_expander(store, tmp_path, log_paths=[]))
    tools = build_tools(assistant)
    assert tuple(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool.description and tool.args_schema.model_json_schema()["properties"]
    history.record({"user_id": "u1", "type": "purchase", "product_id": "1"})
    assert tools["lookup_user_history"].invoke({"user_id": "u1"})["event_count"] == 1
    assert tools["get_product"].invoke({"product_id": "3"})["title"].startswith("HP Pavilion")
    assert len(tools["compare_products"].invoke({"product_ids": ["1", "8"]})["products"]) == 2
    assert tools["recommend_products"].invoke({"query": "mouse", "user_id": "u1", "k": 2})
    assert tools["expand_query"].invoke({"query": "wireless mouse"})["query"] == "wireless mouse"
    assert tools["correct_spelling"].invoke({"query": "wireless moose"})["corrected"] == "wireless mouse"
    assert tools["parse_attributes"].invoke({"query": "蓝色T恤 100元以内"})["price_max"] == 100
    assert tools["classify_intent"].invoke({"query": "我的订单到哪了"})["label"] == "order_status"
    assert tools["search_catalog"].invoke({"query": "wireless mouse", "k": 1})[0]["id"] == "1"
