"""The OpenAI-compatible backend against a recording HTTP server on loopback: the exact request bodies it sends
(messages, tools, tool_choice, response_format / structured_outputs, stream flags) and how it reads replies,
including tool calls left in the text and argument strings cut off by max_tokens."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field

from assistant.llm import build_chat_model
from assistant.llm_openai import OpenAICompatChatModel
from assistant.llm_openai_wire import repair_json, tool_calls_from_content
from assistant.settings import Settings
from tools.core.errors import InputError, ModelOutputError, ModelUnavailable


class Stream:
    """A canned streamed reply: these chunk objects are sent as server-sent events."""

    def __init__(self, *chunks: dict[str, Any]) -> None:
        self.chunks = chunks


class Status:
    """A canned error reply."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message


class Recorder:
    """A loopback OpenAI-style server: records every request body, answers from a queue of canned replies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.replies: list[Any] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path == "/v1/chat/completions"]

    def enqueue(self, *replies: Any) -> None:
        self.replies.extend(replies)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                recorder.requests.append((self.path, {}))
                self._json(200, {"object": "list", "data": [{"id": "qwen05", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.requests.append((self.path, body))
                reply = recorder.replies.pop(0)
                if isinstance(reply, Status):
                    return self._json(reply.code, {"error": {"message": reply.message, "code": reply.code}})
                if isinstance(reply, dict):
                    return self._json(200, reply)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in reply.chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler


@pytest.fixture
def recorder():
    rec = Recorder()
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def completion(content: str | None = "", tool_calls: list[dict[str, Any]] | None = None,
               finish: str = "stop") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen05",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}


def native_call(name: str, arguments: str, call_id: str = "call_a") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "qwen05",
            "choices": choices, "usage": usage}


class SearchArgs(BaseModel):
    """Search the product catalog."""

    query: str = Field(description="what to look for")
    max_price: float | None = Field(default=None, description="highest price")


def search_catalog(query: str, max_price: float | None = None) -> str:
    """Search the product catalog."""
    return query


def get_order(order_id: str) -> str:
    """Look up an order."""
    return order_id


def model_for(rec: Recorder, **kwargs: Any) -> OpenAICompatChatModel:
    return OpenAICompatChatModel(base_url=rec.url, model_name="qwen05", max_retries=0, timeout_s=10, **kwargs)


SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_catalog",
        "description": "Search the product catalog.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                         "max_price": {"anyOf": [{"type": "number"},
                                                                                 {"type": "null"}],
                                                                       "default": None}},
                       "required": ["query"]},
    },
}

# ------------------------------------------------------------------------------------------- request bodies


def test_plain_request_body_is_exact(recorder):
    recorder.enqueue(completion("你好"))
    reply = model_for(recorder).invoke([SystemMessage("Be brief."), HumanMessage("你好")])
    assert recorder.bodies == [{
        "model": "qwen05",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"}],
        "temperature": 0.2, "max_tokens": 512,
    }]
    assert reply.content == "你好" and reply.usage_metadata["output_tokens"] == 7
    assert reply.response_metadata["finish_reason"] == "stop"


def test_call_options_and_stops_are_sent(recorder):
    recorder.enqueue(completion("x"))
    model_for(recorder).invoke("hi", stop=["\n"], max_tokens=9, temperature=0, seed=3, top_k=20,
                               not_an_api_field=True)
    assert recorder.bodies[0] == {"model": "qwen05", "messages": [{"role": "user", "content": "hi"}],
                                  "temperature": 0, "max_tokens": 9, "seed": 3, "stop": ["\n"], "top_k": 20}


def test_second_turn_carries_tool_calls_and_tool_results(recorder):
    recorder.enqueue(completion("找到了一件蓝色T恤。"))
    history = [
        HumanMessage("找50元以内的蓝色T恤"),
        AIMessage(content="", tool_calls=[{"name": "search_catalog", "args": {"query": "蓝色T恤", "max_price": 50},
                                           "id": "call_1"}]),
        ToolMessage(content='[{"id": "4", "title": "夏季纯棉蓝色T恤"}]', tool_call_id="call_1"),
    ]
    model_for(recorder).bind_tools([search_catalog]).invoke(history)
    assert recorder.bodies[0]["messages"] == [
        {"role": "user", "content": "找50元以内的蓝色T恤"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "search_catalog", "arguments": '{"query": "蓝色T恤", "max_price": 50}'}}]},
        {"role": "tool", "content": '[{"id": "4", "title": "夏季纯棉蓝色T恤"}]', "tool_call_id": "call_1"},
    ]


@pytest.mark.parametrize(("choice", "sent"), [
    (None, None),
    ("auto", "auto"),
    ("none", "none"),
    ("required", "required"),
    ("any", "required"),
    (True, "required"),
    ("search_catalog", {"type": "function", "function": {"name": "search_catalog"}}),
])
def test_tools_and_tool_choice_in_openai_form(recorder, choice, sent):
    recorder.enqueue(completion("ok"))
    model_for(recorder).bind_tools([search_catalog, get_order], tool_choice=choice).invoke("hi")
    body = recorder.bodies[0]
    assert body["tools"][0] == SEARCH_TOOL
    assert body["tools"][1]["function"]["name"] == "get_order"
    assert body.get("tool_choice") == sent and ("tool_choice" in body) == (sent is not None)


def test_pydantic_tool_schema_is_derived(recorder):
    recorder.enqueue(completion("ok"))
    model_for(recorder).bind_tools([SearchArgs], tool_choice="SearchArgs").invoke("hi")
    function = recorder.bodies[0]["tools"][0]["function"]
    assert function["name"] == "SearchArgs" and function["parameters"]["required"] == ["query"]


def test_unknown_named_tool_choice_is_refused(recorder):
    with pytest.raises(InputError, match="not among the bound tools: search_catalog"):
        model_for(recorder).bind_tools([search_catalog], tool_choice="get_weather")
    assert recorder.requests == []


SLOTS = {"type": "object", "properties": {"color": {"type": "string"}, "max_price": {"type": "number"}},
         "required": ["color", "max_price"]}


def test_generate_json_sends_response_format_json_schema(recorder):
    recorder.enqueue(completion('{"color": "蓝色", "max_price": 50}'))
    slots = model_for(recorder).generate_json([("user", "蓝色T恤 50元以内")], SLOTS, max_tokens=60)
    assert slots == {"color": "蓝色", "max_price": 50}
    body = recorder.bodies[0]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": SLOTS}}
    assert body["max_tokens"] == 60 and "structured_outputs" not in body


def test_generate_json_through_structured_outputs(recorder):
    recorder.enqueue(completion('{"color": "蓝色", "max_price": 50}'))
    model = model_for(recorder, json_constraint="structured_outputs")
    assert model.generate_json("蓝色T恤 50元以内", SLOTS)["max_price"] == 50
    body = recorder.bodies[0]
    assert body["structured_outputs"] == {"json": SLOTS} and "response_format" not in body


def test_structured_outputs_and_extra_body_as_call_options(recorder):
    recorder.enqueue(completion("yes"))
    model_for(recorder).invoke("ok?", structured_outputs={"choice": ["yes", "no"]},
                               extra_body={"repetition_penalty": 1.1})
    body = recorder.bodies[0]
    assert body["structured_outputs"] == {"choice": ["yes", "no"]} and body["repetition_penalty"] == 1.1


def test_pydantic_response_format_becomes_json_schema(recorder):
    recorder.enqueue(completion('{"query": "x"}'))
    model_for(recorder).invoke("x", response_format=SearchArgs)
    rf = recorder.bodies[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["query"]


def test_generate_json_retries_then_reports_every_attempt(recorder):
    recorder.enqueue(completion('{"color": "蓝色"'), completion('{"color": "蓝色", "max_price": 50}'))
    assert model_for(recorder).generate_json("蓝色T恤 50元以内", SLOTS, retries=1)["color"] == "蓝色"
    assert recorder.bodies[1]["temperature"] == 0.7 and recorder.bodies[1]["seed"] == 1
    recorder.enqueue(completion("no"), completion("still no"))
    with pytest.raises(ModelOutputError) as err:
        model_for(recorder).generate_json("x", SLOTS, retries=1)
    assert err.value.attempts == ["no", "still no"]


# ------------------------------------------------------------------------------------------- replies


def test_native_tool_call_is_read(recorder):
    recorder.enqueue(completion(None, [native_call("search_catalog", '{"query": "蓝色T恤", "max_price": 50}')],
                                finish="tool_calls"))
    reply = model_for(recorder).bind_tools([search_catalog], tool_choice="required").invoke("找蓝色T恤")
    assert reply.tool_calls == [{"name": "search_catalog", "args": {"query": "蓝色T恤", "max_price": 50},
                                 "id": "call_a", "type": "tool_call"}]
    assert reply.content == "" and reply.invalid_tool_calls == []


CALL = '{"name": "search_catalog", "arguments": {"query": "blue t-shirt", "max_price": 20}}'


@pytest.mark.parametrize(("content", "rest"), [
    (f"```json\n{CALL}\n```", ""),
    (CALL, ""),
    (f"Let me search.\n{CALL}", "Let me search."),
    (f"<tool_call>\n{CALL}\n</tool_call>", ""),
    (f"[{CALL}]", ""),
    ('{"name": "search_catalog", "parameters": {"query": "blue t-shirt", "max_price": 20}}', ""),
    ('{"type": "function", "function": {"name": "search_catalog", "arguments": '
     '"{\\"query\\": \\"blue t-shirt\\", \\"max_price\\": 20}"}}', ""),
])
def test_tool_call_in_content_is_recovered(recorder, content, rest):
    recorder.enqueue(completion(content))
    reply = model_for(recorder).bind_tools([search_catalog]).invoke("blue t-shirt under 20")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("search_catalog", {"query": "blue t-shirt", "max_price": 20})]
    assert reply.content == rest and reply.response_metadata["tool_calls_from_content"] is True


def test_several_hermes_calls_in_content(recorder):
    second = '{"name": "get_order", "arguments": {"order_id": "A7"}}'
    recorder.enqueue(completion(f"<tool_call>{CALL}</tool_call>\n<tool_call>{second}</tool_call>"))
    reply = model_for(recorder).bind_tools([search_catalog, get_order]).invoke("x")
    assert [c["name"] for c in reply.tool_calls] == ["search_catalog", "get_order"]
    assert len({c["id"] for c in reply.tool_calls}) == 2


@pytest.mark.parametrize("content", [
    '{"name": "delete_everything", "arguments": {}}',   # not a bound tool: stays text
    '{"query": "blue t-shirt"}',                        # no tool name: stays text
    "A blue T-shirt {cotton} costs 20 dollars.",
])
def test_content_that_is_not_a_bound_call_stays_text(recorder, content):
    recorder.enqueue(completion(content))
    reply = model_for(recorder).bind_tools([search_catalog]).invoke("x")
    assert reply.tool_calls == [] and reply.content == content


def test_content_is_not_parsed_without_tools_or_with_tool_choice_none(recorder):
    recorder.enqueue(completion(CALL), completion(CALL))
    assert model_for(recorder).invoke("x").content == CALL
    assert model_for(recorder).bind_tools([search_catalog], tool_choice="none").invoke("x").tool_calls == []
    off = model_for(recorder, parse_content_tool_calls=False)
    recorder.enqueue(completion(CALL))
    assert off.bind_tools([search_catalog]).invoke("x").content == CALL


@pytest.mark.parametrize(("arguments", "expected"), [
    ('{"query": "蓝色T恤", "max_price": 5', {"query": "蓝色T恤", "max_price": 5}),
    ('{"query": "蓝色T', {"query": "蓝色T"}),
    ('{"query": "蓝色T恤", "max_pri', {"query": "蓝色T恤"}),
    ('{"query": "蓝色T恤", "max_price":', {"query": "蓝色T恤"}),
    ('{"query": "a \\"b', {"query": 'a "b'}),
])
def test_truncated_arguments_are_repaired(recorder, arguments, expected):
    recorder.enqueue(completion(None, [native_call("search_catalog", arguments)], finish="length"))
    reply = model_for(recorder).bind_tools([search_catalog], tool_choice="search_catalog").invoke("x")
    assert reply.tool_calls[0]["args"] == expected and reply.invalid_tool_calls == []
    assert reply.response_metadata["repaired_tool_calls"] == ["call_a"]


@pytest.mark.parametrize("arguments", ["not json", '["a", "b"]', "{{{"])
def test_unrepairable_arguments_become_invalid_tool_calls(recorder, arguments):
    recorder.enqueue(completion(None, [native_call("search_catalog", arguments)], finish="length"))
    reply = model_for(recorder).bind_tools([search_catalog], tool_choice="required").invoke("x")
    assert reply.tool_calls == []
    assert reply.invalid_tool_calls[0]["name"] == "search_catalog"
    assert reply.invalid_tool_calls[0]["args"] == arguments and reply.invalid_tool_calls[0]["error"]


def test_truncated_hermes_call_in_content(recorder):
    recorder.enqueue(completion('<tool_call>\n{"name": "search_catalog", "arguments": {"query": "蓝色',
                                finish="length"))
    reply = model_for(recorder).bind_tools([search_catalog]).invoke("x")
    assert reply.tool_calls[0]["args"] == {"query": "蓝色"}
    assert reply.response_metadata["repaired_tool_calls"] == [reply.tool_calls[0]["id"]]
    recorder.enqueue(completion('<tool_call>\n{"name": "search_catalog", "argu', finish="length"))
    cut = model_for(recorder).bind_tools([search_catalog]).invoke("x")
    assert cut.tool_calls == [] and cut.invalid_tool_calls[0]["name"] == "search_catalog"


def test_hermes_tag_cut_before_the_name_is_an_invalid_call_of_the_named_tool(recorder):
    # What vLLM returned for a named tool choice with max_tokens=6: the call stays in content, cut off.
    recorder.enqueue(completion('<tool_call>\n{"name', finish="length"), completion('<tool_call>\n{"name'))
    reply = model_for(recorder).bind_tools([search_catalog, get_order], tool_choice="search_catalog").invoke("x")
    assert reply.tool_calls == [] and reply.content == ""
    assert (reply.invalid_tool_calls[0]["name"], reply.invalid_tool_calls[0]["args"]) == ("search_catalog", '{"name')
    unnamed = model_for(recorder).bind_tools([search_catalog, get_order]).invoke("x")
    assert unnamed.invalid_tool_calls[0]["name"] is None


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": [1, 2', {"a": [1, 2]}),
    ('{"a": {"b": "c', {"a": {"b": "c"}}),
    ('[{"a": 1}, {"b": tr', [{"a": 1}, {}]),
    ('{"a": 1} trailing', None),
    ('{{{', None),
    ('{"a": "x\\', {"a": "x"}),
    ('{"a": 1,', {"a": 1}),
    ('{"a": "}]"', {"a": "}]"}),
    ("", None),
    ("plain words", None),
])
def test_repair_json(text, value):
    assert repair_json(text) == value


def test_tool_calls_from_content_is_bounded_on_long_prose():
    text = "{" * 5000 + " not json"
    assert tool_calls_from_content(text, ["search_catalog"]) == ([], text)


# ------------------------------------------------------------------------------------------- streaming


def test_streaming_text_body_and_chunks(recorder):
    recorder.enqueue(Stream(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                            chunk({"content": "lo "}), chunk({"content": "there"}), chunk({}, finish="stop"),
                            chunk({}, usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})))
    chunks = list(model_for(recorder).stream("Say hello", max_tokens=10))
    assert recorder.bodies == [{"model": "qwen05", "messages": [{"role": "user", "content": "Say hello"}],
                                "temperature": 0.2, "max_tokens": 10, "stream": True,
                                "stream_options": {"include_usage": True}}]
    assert [c.content for c in chunks if c.content] == ["Hel", "lo ", "there"]
    merged = sum(chunks[1:], chunks[0])
    assert merged.content == "Hello there" and merged.usage_metadata["total_tokens"] == 8
    assert merged.response_metadata["finish_reason"] == "stop"


def test_streaming_without_usage_option(recorder):
    recorder.enqueue(Stream(chunk({"content": "ok"}), chunk({}, finish="stop")))
    list(model_for(recorder, stream_usage=False).stream("x"))
    assert "stream_options" not in recorder.bodies[0] and recorder.bodies[0]["stream"] is True


def test_streaming_native_tool_call_deltas(recorder):
    recorder.enqueue(Stream(
        chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_s", "type": "function",
                                                    "function": {"name": "search_catalog", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"蓝色T恤"}'}}]}),
        chunk({}, finish="tool_calls")))
    chunks = list(model_for(recorder).bind_tools([search_catalog], tool_choice="required").stream("x"))
    merged = sum(chunks[1:], chunks[0])
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        ("search_catalog", {"query": "蓝色T恤"}, "call_s")]
    assert recorder.bodies[0]["tool_choice"] == "required"


def test_streaming_holds_back_a_call_written_as_text(recorder):
    parts = ["```", "json\n", '{"name": "search_catalog", ', '"arguments": {"query": "蓝色T恤"}}', "\n```"]
    recorder.enqueue(Stream(*[chunk({"content": p}) for p in parts], chunk({}, finish="stop")))
    chunks = list(model_for(recorder).bind_tools([search_catalog]).stream("x"))
    assert [c.content for c in chunks if c.content] == []
    merged = sum(chunks[1:], chunks[0]) if len(chunks) > 1 else chunks[0]
    assert merged.tool_calls[0]["args"] == {"query": "蓝色T恤"}


def test_streaming_prose_with_tools_bound_is_not_held(recorder):
    recorder.enqueue(Stream(chunk({"content": " Sure"}), chunk({"content": ", here"}),
                            chunk({"content": " it is."}), chunk({}, finish="stop")))
    chunks = list(model_for(recorder).bind_tools([search_catalog]).stream("x"))
    assert [c.content for c in chunks if c.content] == [" Sure", ", here", " it is."]
    assert sum(chunks[1:], chunks[0]).tool_calls == []


# ------------------------------------------------------------------------------------------- errors, factory


@pytest.mark.parametrize(("status", "message", "error"), [
    (500, "engine died", ModelUnavailable),
    (404, "The model `qwen05` does not exist.", ModelUnavailable),
    (400, "This model's maximum context length is 4096 tokens.", InputError),
    (400, "invalid tool_choice", ModelOutputError),
    (422, "unprocessable", ModelOutputError),
])
def test_server_errors_are_typed(recorder, status, message, error):
    recorder.enqueue(Status(status, message))
    with pytest.raises(error, match="qwen05|context|rejected"):
        model_for(recorder).invoke("x")


def test_streaming_server_error_is_typed(recorder):
    recorder.enqueue(Status(500, "engine died"))
    with pytest.raises(ModelUnavailable):
        list(model_for(recorder).stream("x"))


def test_built_from_settings_and_ready_check(recorder, tmp_path):
    settings = Settings(data_dir=tmp_path, llm_backend="openai", llm_base_url=recorder.url,
                        llm_model_name="qwen05", llm_api_key="k", llm_timeout_s=7)
    model = build_chat_model(settings)
    assert isinstance(model, OpenAICompatChatModel)
    assert (model.base_url, model.model_name, model.api_key, model.timeout_s) == (recorder.url, "qwen05", "k", 7)
    model.ensure_ready()
    assert recorder.requests == [("/v1/models", {})]
    other = OpenAICompatChatModel(base_url=recorder.url, model_name="other")
    with pytest.raises(ModelUnavailable, match="does not serve model 'other'"):
        other.ensure_ready()
