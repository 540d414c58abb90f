"""The OpenAI-compatible path against a real vLLM server (hermes tool parser, structured outputs): through
shopquery's OpenAICompatChatModel built from settings, and through the plain `openai` client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from assistant.llm import build_chat_model
from assistant.llm_openai import OpenAICompatChatModel
from assistant.llm_openai_wire import tool_calls_from_content
from tools.core.errors import ModelUnavailable

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.slow]

SYSTEM = "You help shoppers find products. Use the search_catalog tool to search the catalog."
QUERY = "找50元以内的蓝色T恤"


class SearchArgs(BaseModel):
    """Search the product catalog."""

    query: str = Field(description="keywords to search for")
    max_price: float | None = Field(default=None, description="highest price in yuan")


def _search(query: str, max_price: float | None = None) -> str:
    return json.dumps([{"id": "4", "title": "夏季纯棉蓝色T恤 男 短袖", "price": 79.0}], ensure_ascii=False)


SEARCH = StructuredTool.from_function(_search, name="search_catalog", description="Search the product catalog.",
                                      args_schema=SearchArgs)
OPENAI_SEARCH = {"type": "function", "function": {"name": "search_catalog",
                                                  "description": "Search the product catalog.",
                                                  "parameters": SearchArgs.model_json_schema()}}
EXPANSIONS = {"type": "object", "properties": {"expansions": {"type": "array", "items": {"type": "string"},
                                                              "minItems": 1, "maxItems": 3}},
              "required": ["expansions"]}
JSON_PROMPT = [("system", "Rewrite the shopping query into up to three search queries. Answer in JSON."),
               ("user", "蓝色T恤 50元以内")]


@pytest.fixture(scope="module")
def model(vllm_settings) -> OpenAICompatChatModel:
    built = build_chat_model(vllm_settings)
    assert isinstance(built, OpenAICompatChatModel)
    return built


@pytest.fixture(scope="module")
def client(vllm_server):
    import openai

    return openai.OpenAI(base_url=vllm_server, api_key="not-needed", timeout=240, max_retries=0)


def _messages() -> list[Any]:
    return [SystemMessage(SYSTEM), HumanMessage(QUERY)]


def _raw_messages() -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUERY}]


def _valid_search(reply: AIMessage) -> SearchArgs:
    assert reply.invalid_tool_calls == [], reply.invalid_tool_calls
    assert [c["name"] for c in reply.tool_calls] == ["search_catalog"], reply
    return SearchArgs.model_validate(reply.tool_calls[0]["args"])


def test_server_serves_the_model(model, client):
    model.ensure_ready()
    assert [m.id for m in client.models.list()] == ["qwen05"]


def test_named_tool_call_has_valid_arguments(model, client):
    reply = model.bind_tools([SEARCH], tool_choice="search_catalog").invoke(_messages(), max_tokens=80,
                                                                            temperature=0)
    assert _valid_search(reply).query.strip()
    raw = client.chat.completions.create(
        model="qwen05", messages=_raw_messages(), tools=[OPENAI_SEARCH], max_tokens=80, temperature=0,
        tool_choice={"type": "function", "function": {"name": "search_catalog"}})
    call = raw.choices[0].message.tool_calls[0]
    assert call.function.name == "search_catalog"
    assert SearchArgs.model_validate_json(call.function.arguments).query.strip()


def test_required_tool_choice_has_valid_arguments(model, client):
    reply = model.bind_tools([SEARCH], tool_choice="required").invoke(_messages(), max_tokens=80, temperature=0)
    assert _valid_search(reply).query.strip()
    raw = client.chat.completions.create(model="qwen05", messages=_raw_messages(), tools=[OPENAI_SEARCH],
                                         tool_choice="required", max_tokens=80, temperature=0)
    assert SearchArgs.model_validate_json(raw.choices[0].message.tool_calls[0].function.arguments)


def test_auto_tool_choice_gives_a_call_natively_or_recovered_from_text(model, client):
    reply = model.bind_tools([SEARCH], tool_choice="auto").invoke(_messages(), max_tokens=120, temperature=0)
    assert _valid_search(reply).query.strip()
    raw = client.chat.completions.create(model="qwen05", messages=_raw_messages(), tools=[OPENAI_SEARCH],
                                         tool_choice="auto", max_tokens=120, temperature=0).choices[0].message
    if raw.tool_calls:
        arguments = raw.tool_calls[0].function.arguments
    else:
        calls, _ = tool_calls_from_content(raw.content or "", ["search_catalog"])
        assert calls, f"neither the hermes parser nor shopquery found a call in: {raw.content!r}"
        arguments = calls[0].arguments
    assert SearchArgs.model_validate(arguments if isinstance(arguments, dict) else json.loads(arguments))


def test_generate_json_with_json_schema_and_with_structured_outputs(model, vllm_settings, client):
    for json_constraint in ("response_format", "structured_outputs"):
        constrained = model if json_constraint == "response_format" else OpenAICompatChatModel(
            base_url=str(vllm_settings.llm_base_url), model_name="qwen05", timeout_s=240,
            json_constraint=json_constraint)
        value = constrained.generate_json(JSON_PROMPT, EXPANSIONS, retries=0, max_tokens=80)
        assert 1 <= len(value["expansions"]) <= 3 and all(isinstance(e, str) for e in value["expansions"])
    raw = client.chat.completions.create(
        model="qwen05", messages=[{"role": r, "content": c} for r, c in JSON_PROMPT], max_tokens=80,
        temperature=0, extra_body={"structured_outputs": {"json": EXPANSIONS}})
    assert isinstance(json.loads(raw.choices[0].message.content)["expansions"], list)


def test_streaming_text(model, client):
    chunks = [c.content for c in model.stream([HumanMessage("用一句话介绍蓝色T恤。")], max_tokens=24)]
    assert len([c for c in chunks if c]) >= 3 and "".join(chunks).strip()
    raw = client.chat.completions.create(model="qwen05", messages=[{"role": "user", "content": "Say hello."}],
                                         max_tokens=12, stream=True)
    deltas = [c.choices[0].delta.content for c in raw if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 2


def test_second_turn_with_tool_calls_and_tool_result_is_accepted(model, client):
    call = {"name": "search_catalog", "args": {"query": "蓝色T恤", "max_price": 50}, "id": "call_1"}
    history = [*_messages(), AIMessage(content="", tool_calls=[call]),
               ToolMessage(content=_search("蓝色T恤", 50), tool_call_id="call_1")]
    reply = model.bind_tools([SEARCH]).invoke(history, max_tokens=60, temperature=0)
    assert reply.content or reply.tool_calls or reply.invalid_tool_calls
    raw = client.chat.completions.create(
        model="qwen05", max_tokens=60, temperature=0, tools=[OPENAI_SEARCH],
        messages=[*_raw_messages(),
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "call_1", "type": "function",
                       "function": {"name": "search_catalog", "arguments": json.dumps(call["args"])}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": _search("蓝色T恤", 50)}])
    assert raw.choices[0].message.content or raw.choices[0].message.tool_calls


def test_tool_call_cut_off_by_max_tokens_never_raises(model):
    reply = model.bind_tools([SEARCH], tool_choice="search_catalog").invoke(_messages(), max_tokens=6,
                                                                            temperature=0)
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.tool_calls or reply.invalid_tool_calls
    for call in reply.tool_calls:
        assert isinstance(call["args"], dict)


def test_unknown_model_name_is_unavailable(vllm_settings):
    other = OpenAICompatChatModel(base_url=str(vllm_settings.llm_base_url), model_name="not-served")
    with pytest.raises(ModelUnavailable, match="does not serve model 'not-served'"):
        other.ensure_ready()
    with pytest.raises(ModelUnavailable, match="not-served"):
        other.invoke("hi", max_tokens=2)
