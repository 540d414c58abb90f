"""Conformance with real clients: the `openai` SDK (sync, async, streaming) and LangChain's `ChatOpenAI`
(`bind_tools`, `with_structured_output`, streamed usage) against `create_app` under a real uvicorn on loopback, over
real components (e5, chromadb on disk, the trained intent classifier, the bundled Qwen2.5-Coder-0.5B). Raw
responses are validated against the `openai` package's own types."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel, Field
from servers import demo_subset, running_api

from assistant.agent import Agent
from assistant.api import create_app
from assistant.app import Assistant
from assistant.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "c" * 32
LOOKUP_ORDER = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up the status of an order by its order number",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "description": "the order number"}},
                   "required": ["order_id"]}}}
ORDER = [{"role": "user", "content": "where is my order 12345?"}]
RESULT = '{"order_id": "12345", "status": "shipped", "eta": "2026-12-09"}'


class Filters(BaseModel):
    """Search filters read from a shopper's query."""

    color: str = Field(description="the colour asked for, in English")
    max_price: float = Field(description="the highest price asked for")


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedded_chat_model_05b):
    """uvicorn over real components, with a catalog of T-shirts and mice from the demo catalog."""
    data = tmp_path_factory.mktemp("conformance")
    catalog, _ = demo_subset(data, ("t恤", "mouse"), 120)
    assistant = Assistant(Settings(data_dir=data, api_keys=[KEY]))
    assistant.ingest(catalog, progress=False)
    assistant.use(chat_model=embedded_chat_model_05b, agent=Agent(assistant, reply_tokens=40))
    with running_api(create_app(assistant)) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client(server):
    import openai

    return openai.OpenAI(base_url=server, api_key=KEY, max_retries=0, timeout=180)


def test_sdk_tool_call_then_a_reply_from_the_tool_result(client):
    from openai.types.chat import ChatCompletion

    raw = client.chat.completions.with_raw_response.create(model="shopquery", messages=ORDER, tools=[LOOKUP_ORDER])
    completion = ChatCompletion.model_validate(raw.http_response.json())
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message
    call = choice.message.tool_calls[0]
    assert call.function.name == "lookup_order" and json.loads(call.function.arguments) == {"order_id": "12345"}
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    follow = [*ORDER, choice.message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": RESULT}]
    reply = client.chat.completions.create(model="shopquery", messages=follow, tools=[LOOKUP_ORDER])
    text = reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length") and not reply.choices[0].message.tool_calls
    assert "shipped" in text.lower() or "2026-12-09" in text or "12-09" in text, text
    assert reply.model_extra.get("shopquery") is None


def test_sdk_shopping_message_with_tools_is_the_assistants_turn(client):
    completion = client.chat.completions.create(
        model="shopquery", tools=[LOOKUP_ORDER],
        messages=[{"role": "user", "content": "wireless mouse under $30"}])
    choice = completion.choices[0]
    assert choice.finish_reason in ("stop", "length") and not choice.message.tool_calls and choice.message.content
    turn = completion.model_extra["shopquery"]
    assert turn["products"] and all(p["price"] <= 30 for p in turn["products"])
    assert_usage_matches(turn, completion.usage)


def test_sdk_stream_with_usage(client):
    from openai.types.chat import ChatCompletionChunk

    stream = client.chat.completions.create(model="shopquery", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "我想买件T恤"}])
    chunks = list(stream)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text.strip() and finishes in (["stop"], ["length"])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    turn = [c for c in chunks if c.choices and c.choices[0].finish_reason][0].model_extra["shopquery"]
    assert_usage_matches(turn, chunks[-1].usage)


def assert_usage_matches(turn: dict, usage) -> None:
    """Tokens when the model wrote the reply, none when no model call was made."""
    if turn["used_model"]:
        assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    if not any(step["kind"] == "model" for step in turn["trace"]):
        assert usage.total_tokens == 0


def test_async_sdk_answers_and_streams_a_tool_call(server):
    import openai

    async def run():
        client = openai.AsyncOpenAI(base_url=server, api_key=KEY, max_retries=0, timeout=180)
        plain = await client.chat.completions.create(model="shopquery",
                                                     messages=[{"role": "user", "content": "wireless mouse"}])
        stream = await client.chat.completions.create(model="shopquery", messages=ORDER, stream=True,
                                                      tools=[LOOKUP_ORDER], tool_choice="required")
        chunks = [c async for c in stream]
        await client.close()
        return plain, chunks

    plain, chunks = asyncio.run(run())
    assert plain.choices[0].message.content and plain.model_extra["shopquery"]["products"]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [c.function.name for c in calls] == ["lookup_order"]
    assert json.loads(calls[0].function.arguments)["order_id"] == "12345"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_langchain_bind_tools_and_usage_metadata(server):
    from langchain_core.messages import ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def lookup_order(order_id: str) -> str:
        """Look up the status of an order by its order number."""
        return RESULT

    llm = ChatOpenAI(model="shopquery", base_url=server, api_key=KEY, max_retries=0, timeout=180)
    bound = llm.bind_tools([lookup_order])
    question = ("human", "where is my order 12345?")
    message = bound.invoke([question])
    assert [c["name"] for c in message.tool_calls] == ["lookup_order"], message
    assert message.tool_calls[0]["args"] == {"order_id": "12345"}
    assert message.usage_metadata and message.usage_metadata["input_tokens"] > 0
    result = ToolMessage(content=lookup_order.invoke(message.tool_calls[0]["args"]),
                         tool_call_id=message.tool_calls[0]["id"])
    answer = bound.invoke([question, message, result])
    assert answer.content and not answer.tool_calls and answer.usage_metadata is not None
    streamed = None
    for piece in ChatOpenAI(model="shopquery", base_url=server, api_key=KEY, max_retries=0, timeout=180,
                            stream_usage=True).stream("蓝色T恤 100元以内"):
        streamed = piece if streamed is None else streamed + piece
    assert streamed.content and streamed.usage_metadata is not None


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(server, method):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="shopquery", base_url=server, api_key=KEY, max_retries=0, timeout=180)
    structured = llm.with_structured_output(Filters, method=method)
    filters = structured.invoke([("system", "Read the search filters from the shopper's query."),
                                 ("human", "blue t-shirt under 50 dollars")])
    assert isinstance(filters, Filters) and filters.max_price == 50
