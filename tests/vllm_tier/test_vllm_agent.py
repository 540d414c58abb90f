"""A full agent turn through a real vLLM server: the model writes the search_catalog call (named tool choice,
native tool calls), the arguments are validated and grounded, and the reply streams from the server."""

from __future__ import annotations

import pytest

from assistant.agent import Agent
from assistant.app import Assistant
from tools.catalog_store import CatalogStore

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def vllm_app(vllm_settings, tmp_path, hash_embedder, small_catalog):
    app = Assistant(vllm_settings.model_copy(update={"correct_spelling": False}), embedder=hash_embedder,
                    store=CatalogStore(tmp_path / "catalog", hash_embedder))
    app.store.upsert(small_catalog)
    return app


def test_agent_turn_with_a_model_written_search_call(vllm_app):
    agent = Agent(vllm_app, tool_calls="always", reply_tokens=48, timeout_s=240)
    streamed: list[str] = []
    turn = agent.respond("wireless mouse under $30", on_token=streamed.append)
    calls = [s for s in turn.trace if s.kind == "model" and s.name == "search_catalog"]
    assert calls and calls[-1].error is None, [c.model_dump() for c in calls]
    assert turn.products and all(c.price is None or c.price <= 30 for c in turn.products)
    assert turn.filters.price_max == 30
    assert streamed and "".join(streamed).endswith(turn.reply)
    assert turn.used_model or turn.fallback  # the server's reply, or why it was replaced


def test_agent_follow_up_in_chinese_through_vllm(vllm_app):
    agent = Agent(vllm_app, reply_tokens=48, timeout_s=240)
    first = agent.respond("T恤")
    second = agent.respond("便宜点的", session_id=first.session_id)
    assert second.refinements == ["cheaper"] and second.products
    assert [s for s in second.trace if s.name == "reply:reply"]
