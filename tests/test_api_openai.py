"""The OpenAI-compatible endpoint's client-facing features with a scripted chat model: the client's tools and
tool_choice (a validated tool call, then a reply from the tool's result), response_format, usage, finish_reason,
stream_options and the error shape. Responses are checked against the `openai` package's own types."""

from __future__ import annotations

import json

import pytest
import test_api
from fakes import ScriptedChatModel, UsageModel
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from test_api import assert_clean_error, sse_events

from assistant.api import create_app

build = test_api.build  # the fixture that builds an Assistant over the agent tests' catalog

LOOKUP_ORDER = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up the status of an order by its order number",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}},
                   "required": ["order_id"], "additionalProperties": False}}}
HANDOFF = {"type": "function", "function": {"name": "handoff_to_human", "description": "Hand over to a human agent",
                                            "parameters": {"type": "object", "properties": {}}}}
ORDER = [{"role": "user", "content": "where is my order 12345?"}]


def _used(text: str, prompt: int = 30, completion: int = 5) -> AIMessage:
    return AIMessage(content=text, usage_metadata={"input_tokens": prompt, "output_tokens": completion,
                                                   "total_tokens": prompt + completion})


def _client(build, *replies):
    """A test client whose chat model answers with `replies`; the agent itself answers with templated replies."""
    assistant = build()
    model = ScriptedChatModel(list(replies))
    assistant.use(chat_model=model)
    return TestClient(create_app(assistant)), model


def _ask(c, messages, **extra):
    return c.post("/v1/chat/completions", json={"model": "shopquery", "messages": messages, **extra})


def test_a_message_for_a_client_tool_gets_a_validated_tool_call(build):
    c, model = _client(build, _used('{"tool": "lookup_order"}'), _used('{"order_id": "12345"}', 50, 8))
    with c:
        r = _ask(c, ORDER, tools=[LOOKUP_ORDER, HANDOFF])
    assert r.status_code == 200, r.text
    completion = ChatCompletion.model_validate(r.json())
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "lookup_order" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"order_id": "12345"}
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (80, 13)
    assert completion.usage.total_tokens == 93
    choose = model.calls[0]
    assert choose["response_format"]["json_schema"]["schema"]["properties"]["tool"]["enum"] == [
        "lookup_order", "handoff_to_human", "none"]
    assert "where is my order 12345?" in choose["messages"][1][1]


def test_arguments_that_break_the_schema_or_invent_a_number_are_asked_again(build):
    c, model = _client(build, '{"tool": "lookup_order"}', '{"order": "12345"}', '{"order_id": "12346"}',
                       '{"order_id": "12345"}')
    with c:
        body = _ask(c, ORDER, tools=[LOOKUP_ORDER]).json()
    assert json.loads(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"order_id": "12345"}
    assert "12346 does not appear in the conversation" in model.calls[3]["messages"][1][1]


def test_no_valid_arguments_fall_back_to_the_assistants_answer(build):
    c, model = _client(build, '{"tool": "lookup_order"}', *['{"order_id": "999"}'] * 2)
    with c:
        body = _ask(c, ORDER, tools=[LOOKUP_ORDER]).json()
    ChatCompletion.model_validate(body)
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["message"]["content"]
    assert body["shopquery"]["intent"] == "order_status" and not model.replies
    assert any("no client tool call" in n and "999" in n for n in body["shopquery"]["notes"])


def test_a_shopping_message_stays_with_the_assistant_unless_a_tool_is_forced(build):
    c, model = _client(build, '{"order_id": "1"}')
    with c:
        body = _ask(c, [{"role": "user", "content": "wireless mouse"}], tools=[LOOKUP_ORDER]).json()
        assert body["choices"][0]["finish_reason"] == "stop" and body["shopquery"]["products"]
        assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        assert not model.calls  # the intent decided: no model call
        forced = _ask(c, [{"role": "user", "content": "order 1 please"}], tools=[LOOKUP_ORDER],
                      tool_choice={"type": "function", "function": {"name": "lookup_order"}}).json()
    assert forced["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert len(model.calls) == 1  # a forced tool needs no choice


def test_the_model_may_choose_no_tool(build):
    c, model = _client(build, '{"tool": "none"}')
    with c:
        body = _ask(c, [{"role": "user", "content": "hello there"}], tools=[LOOKUP_ORDER]).json()
    assert body["choices"][0]["finish_reason"] == "stop" and body["shopquery"]["action"]
    assert "the model chose no client tool for the message" in body["shopquery"]["notes"]
    assert not model.replies


def _after_the_call(result: str) -> list[dict]:
    call = {"id": "call_abc", "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id": "12345"}'}}
    return [*ORDER, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_abc", "content": result}]


def test_the_tool_result_is_answered_from_not_the_last_user_turn_again(build):
    result = '{"status": "shipped", "eta": "2026-12-09"}'
    c, model = _client(build, _used("Your order 12345 has shipped and should arrive on 2026-12-09.", 90, 16))
    with c:
        body = _ask(c, _after_the_call(result), tools=[LOOKUP_ORDER]).json()
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].message.content == "Your order 12345 has shipped and should arrive on 2026-12-09."
    assert completion.choices[0].finish_reason == "stop" and completion.usage.total_tokens == 106
    prompt = model.calls[0]["messages"][1][1]
    assert "status: shipped\neta: 2026-12-09" in prompt and "where is my order 12345?" in prompt
    assert "tools" not in model.calls[0] and body.get("shopquery") is None


def test_a_failed_reply_from_a_tool_result_says_the_result(build):
    c, _ = _client(build, '{"name": "lookup_order", "arguments": {}}')  # markup instead of prose
    with c:
        body = _ask(c, _after_the_call('{"status": "shipped"}')).json()
    assert body["choices"][0]["message"]["content"] == "lookup_order returned: status: shipped"


def test_a_reply_that_ignores_the_tool_result_is_replaced(build):
    c, _ = _client(build, "The tools returned: lookup_order.")  # what the 0.5B model once wrote
    with c:
        body = _ask(c, _after_the_call('{"status": "shipped", "eta": "2026-12-09"}')).json()
    assert body["choices"][0]["message"]["content"] == "lookup_order returned: status: shipped; eta: 2026-12-09"


def test_tool_calls_stream_as_openai_chunks_with_usage(build):
    c, _ = _client(build, _used('{"tool": "lookup_order"}'), _used('{"order_id": "12345"}'))
    with c:
        r = _ask(c, ORDER, tools=[LOOKUP_ORDER], stream=True, stream_options={"include_usage": True})
    frames = sse_events(r.text)
    assert frames[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate(json.loads(d)) for _, d in frames[:-1]]
    calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
    assert len(calls) == 1 and calls[0].function.name == "lookup_order" and calls[0].index == 0
    assert json.loads(calls[0].function.arguments) == {"order_id": "12345"}
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 70
    assert all(ch.usage is None for ch in chunks[:-1])


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_a_turn_reports_its_model_usage_and_finish_reason(build, finish):
    model = UsageModel("Logitech M185 wireless mouse, 19.99 USD.", finish)
    with TestClient(create_app(build(model=model))) as c:
        body = _ask(c, [{"role": "user", "content": "wireless mouse"}], max_tokens=9).json()
        r = _ask(c, [{"role": "user", "content": "蓝色T恤"}], stream=True, stream_options={"include_usage": True})
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].finish_reason == finish
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 9)
    assert model.calls[0]["max_tokens"] == 9
    chunks = [json.loads(d) for _, d in sse_events(r.text)[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 0  # scripted stream: no usage
    ChatCompletionChunk.model_validate(chunks[-1])


def test_response_format_json_schema_is_honoured(build):
    schema = {"type": "object", "properties": {"color": {"type": "string"}, "max_price": {"type": "number"}},
              "required": ["color", "max_price"], "additionalProperties": False}
    c, model = _client(build, '{"color": "blue"}', _used('{"color": "blue", "max_price": 50}', 40, 12))
    with c:
        body = _ask(c, [{"role": "system", "content": "Extract the filters."},
                        {"role": "user", "content": "蓝色T恤 50元以内"}],
                    response_format={"type": "json_schema", "json_schema": {"name": "f", "schema": schema}}).json()
    completion = ChatCompletion.model_validate(body)
    assert json.loads(completion.choices[0].message.content) == {"color": "blue", "max_price": 50}
    assert completion.usage.total_tokens == 52 and len(model.calls) == 2  # the first answer missed max_price
    system = model.calls[0]["messages"][0]
    assert system[0] == "system" and system[1].startswith("Extract the filters.") and '"max_price"' in system[1]


def test_no_json_matching_the_schema_is_a_422_never_a_wrong_answer(build):
    c, model = _client(build, *["Sure! Blue, under 50."] * 3)
    with c:
        r = _ask(c, ORDER, response_format={"type": "json_object"})
    error = assert_clean_error(r, 422, "schema_not_met")
    assert error["param"] == "response_format" and "3 attempts" in error["message"] and not model.replies


@pytest.mark.parametrize("extra, param, needle", [
    ({"response_format": {"type": "xml"}}, "response_format", "not supported"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "thing"}}}},
     "response_format.json_schema.schema", "invalid JSON schema"),
    ({"tools": [LOOKUP_ORDER], "tool_choice": {"type": "function", "function": {"name": "refund"}}},
     "tool_choice", "not among the tools"),
    ({"tool_choice": "required"}, "tool_choice", "needs tools"),
    ({"tools": [{"type": "function", "function": {"name": "x", "parameters": {"type": 7}}}]},
     "tools[0].function.parameters", "invalid JSON schema"),
])
def test_what_cannot_be_honoured_is_refused_with_the_param_named(build, extra, param, needle):
    c, model = _client(build)
    with c:
        error = assert_clean_error(_ask(c, ORDER, **extra), 400, "invalid_request")
    assert error["param"] == param and needle in error["message"] and not model.calls


def test_errors_have_the_openai_shape_and_the_sdk_reads_them(build):
    c, _ = _client(build)
    with c:
        error = assert_clean_error(_ask(c, [{"role": "user", "content": "hi"}], n=3), 422, "invalid_request")
    assert error["param"] == "n" and error["type"] == "invalid_request_error"
