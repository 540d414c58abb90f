"""Every tool is registered once, with a schema derived from its pydantic input model, and runs; the README's
example of taking the tools into another LangChain agent runs as written; callback handlers given to the agent
see every tool run of a turn."""

import contextlib
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakes import FixedIntent, KeywordIntent, ScriptedChatModel, tool_call_message, unit_assistant
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import ToolMessage
from test_agent import CATALOG
from test_fast_path import OneFixCorrector

from assistant.agent import Agent
from tools.attributes import AttributeParser
from tools.catalog_search import SearchCatalogInput
from tools.catalog_store import CatalogStore
from tools.core.types import SearchHit
from tools.expansion import build_default_expander
from tools.history import HistoryStore
from tools.recommend import ModelCache
from tools.registry import TOOL_NAMES, ToolFailed, ToolRegistry, build_tools

README = Path(__file__).resolve().parent.parent / "README.md"


def test_registry_binds_every_tool_to_the_assistant_resources(tmp_path, hash_embedder, small_catalog):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert(small_catalog)
    history = HistoryStore(data_dir=tmp_path)
    assistant = SimpleNamespace(store=store, corrector=OneFixCorrector(), intent_classifier=FixedIntent("order_status"),
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


@pytest.fixture
def app(tmp_path, hash_embedder):
    return unit_assistant(tmp_path, hash_embedder, KeywordIntent(), CATALOG)


def _readme_example() -> str:
    """The Python block of the README section on using the tools in another LangChain agent."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### In your own LangChain agent"):]
    return re.search(r"^```python\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE).group(1)


def test_the_readme_example_runs_the_tools_in_another_langchain_agent(app):
    code = _readme_example()
    assert "Assistant(Settings())" in code
    model = ScriptedChatModel([tool_call_message("search_catalog", {"query": "蓝色T恤", "price_max": 100})])
    app.use(chat_model=model)
    out = io.StringIO()
    namespace = {}
    with contextlib.redirect_stdout(out):  # the README's own code, with the unit-test assistant for Settings()
        exec(compile(code.replace("Assistant(Settings())", "_unit_assistant"), "README.md", "exec"),  # noqa: S102
             {"_unit_assistant": app}, namespace)
    assert [t.name for t in namespace["tools"]] == list(TOOL_NAMES)
    assert [t.name for t in model.calls[0]["tools"]] == list(TOOL_NAMES)
    assert model.calls[0]["tool_choice"] == "search_catalog"
    message = namespace["message"]
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call_1" and message.status == "success"
    products = json.loads(message.content)
    assert products and all(p["price"] <= 100 for p in products)
    assert all(isinstance(h, SearchHit) for h in message.artifact)
    assert [h.product.id for h in message.artifact] == [p["id"] for p in products]
    assert products[0]["title"] in out.getvalue()


def test_the_agent_shows_its_model_the_schema_the_registry_derives(app):
    model = ScriptedChatModel([tool_call_message("search_catalog", {"query": "T恤"}), "蓝色T恤。"])
    app.use(chat_model=model)
    Agent(app, tool_calls="always").respond("蓝色T恤")
    [schema] = model.calls[0]["tools"]
    assert [schema] == ToolRegistry(app).schemas(["search_catalog"])
    parameters = SearchCatalogInput.model_json_schema()
    assert schema["function"]["parameters"]["properties"].keys() == parameters["properties"].keys()
    hidden = {"filters", "depth", "boost_categories"}  # what only a program can pass is not shown to the model
    assert not hidden & schema["function"]["parameters"]["properties"].keys()


class ToolLog(BaseCallbackHandler):
    """Records every tool run a LangChain callback sees: name and inputs at the start, ids that ended."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict]] = []
        self.ids: list = []
        self.ended: list = []

    def on_tool_start(self, serialized, input_str, *, run_id, inputs=None, **kwargs):
        self.started.append((serialized["name"], inputs or {}))
        self.ids.append(run_id)

    def on_tool_end(self, output, *, run_id, **kwargs):
        self.ended.append(run_id)


def _runs(log: ToolLog) -> list[str]:
    """The tools run, a run of catalog searches (one search step relaxing its filters) counted once."""
    names = [name for name, _ in log.started]
    return [n for i, n in enumerate(names) if not (n == "search_catalog" and i and names[i - 1] == n)]


def test_a_callback_handler_given_to_the_agent_sees_every_tool_run_of_a_turn(app):
    for pid in ("t2", "t6"):
        app.history.record({"user_id": "fan", "type": "purchase", "product_id": pid})
    log = ToolLog()
    agent = Agent(app, use_model=False, callbacks=[log])
    turn = agent.respond("蓝色T恤 100元以内", user_id="fan", correct_spelling=True)
    traced = [s for s in turn.trace if s.kind == "tool"]
    assert [s.name for s in traced] == _runs(log)
    assert {"classify_intent", "correct_spelling", "parse_attributes", "search_catalog", "lookup_user_history",
            "recommend_products", "expand_query"} <= {s.name for s in traced}
    assert log.ended == log.ids  # every run that started ended (none failed)
    inputs = dict(log.started)
    for step in traced:  # the search's trace also shows its filters, which callbacks do not see (context)
        shown = {k: v for k, v in step.args.items() if k == "query" or step.name != "search_catalog"}
        assert shown.items() <= inputs[step.name].items()
    assert inputs["search_catalog"] == {"query": "t恤"} and inputs["recommend_products"]["user_id"] == "fan"
    log.started.clear()
    follow_up = agent.respond("便宜点的", session_id=turn.session_id, user_id="fan")
    assert [s.name for s in follow_up.trace if s.kind == "tool"] == _runs(log)


def test_a_tool_that_reports_a_failure_raises_for_the_agent_with_its_message(app, monkeypatch):
    from tools.history import HistoryUnavailable

    def down(*args, **kwargs):
        raise HistoryUnavailable("the history database is unavailable")

    monkeypatch.setattr(app.history, "profile", down)
    registry = ToolRegistry(app)
    message = registry.run("lookup_user_history", {"user_id": "fan"})
    assert message.status == "error" and message.content == "the history database is unavailable"
    with pytest.raises(ToolFailed, match="^the history database is unavailable$"):
        registry.call("lookup_user_history", {"user_id": "fan"})
    turn = Agent(app, use_model=False).respond("蓝色T恤", user_id="fan")
    assert "history unavailable (the history database is unavailable); products in search order" in turn.notes


def test_the_registry_makes_a_tool_again_when_the_assistant_holds_new_resources(app):
    registry = ToolRegistry(app)
    first = registry.tool("parse_attributes")
    assert registry.tool("parse_attributes") is first
    app.__dict__.pop("attribute_parser")  # what re-ingesting a catalog does
    assert registry.tool("parse_attributes") is not first
    with pytest.raises(KeyError, match="no tool named 'nope'"):
        registry.tool("nope")


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_the_search_tool_ranks_as_the_fast_path_ranks(tmp_path, hash_embedder, fusion):
    app = unit_assistant(tmp_path, hash_embedder, FixedIntent("product_search"), CATALOG)
    app.settings = app.settings.model_copy(update={"fusion": fusion})
    _, hits = ToolRegistry(app).tool("search_catalog").func("wireless mouse", k=5)
    analysis = app.analyze("wireless mouse", k=5)
    assert hits and all(h.product.title for h in hits)
    if fusion == "weighted":  # the ranking model's order and features, with the query's kind as evidence
        assert [h.product.id for h in hits] == [h.product.id for h in analysis.products]
        assert all(h.features for h in hits) and hits[0].features.get("kind_match") == 1.0
    else:
        assert all(h.features is None for h in hits)
