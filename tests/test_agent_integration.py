"""The agent end to end with real components: the e5 encoder, chromadb on disk, the trained intent classifier, the
spell corrector and the bundled Qwen2.5-Coder-0.5B on llama.cpp."""

import json

import pytest

from assistant.agent import Agent
from assistant.app import DEMO_CATALOG, Assistant
from assistant.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_app(tmp_path_factory, embedded_chat_model_05b):
    data = tmp_path_factory.mktemp("agent-data")
    rows = [json.loads(line) for line in DEMO_CATALOG.read_text(encoding="utf-8").splitlines()]
    wanted = [r for r in rows if any(w in r["title"].lower() for w in ("t恤", "mouse", "手机壳"))][:300]
    catalog = data / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in wanted) + "\n", encoding="utf-8")
    app = Assistant(Settings(data_dir=data))
    app.ingest(catalog, progress=False)
    app.use(chat_model=embedded_chat_model_05b)
    return app


def test_a_chinese_conversation_with_the_real_model(real_app):
    agent = Agent(real_app, reply_tokens=60)
    streamed: list[str] = []
    first = agent.respond("我想买件T恤", on_token=streamed.append)
    assert first.products and "search_catalog" in first.tools_called()
    assert streamed and first.first_token_ms is not None
    assert first.used_model or first.fallback  # a model reply, or the reason it was replaced
    second = agent.respond("蓝色的, 100块以内", session_id=first.session_id)
    assert second.filters.price_max == 100 and second.products
    assert all(c.price is None or c.price <= 100 for c in second.products)


def test_the_real_model_writes_a_valid_grounded_search_call(real_app):
    agent = Agent(real_app, tool_calls="always", reply_tokens=40)
    turn = agent.respond("wireless mouse under $30")
    calls = [s for s in turn.trace if s.kind == "model" and s.name == "search_catalog"]
    assert calls and calls[-1].error is None, calls
    assert turn.filters.price_max == 30 and turn.products
    assert all(c.price <= 30 for c in turn.products)
    assert turn.lang == "en"
