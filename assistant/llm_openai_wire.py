"""The wire side of the OpenAI-compatible backend: LangChain messages and options as OpenAI request fields, and
server replies (whole or streamed) as LangChain tool calls — including the calls a server leaves in `content`
(vLLM's hermes parser misses them when a model skips the `<tool_call>` tags) and argument strings cut short by
`max_tokens`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, InvalidToolCall, ToolCall, ToolMessage
from langchain_core.utils.json import parse_partial_json
from pydantic import BaseModel

from tools.core.errors import InputError

# Request fields of the OpenAI chat API that callers may pass through invoke/bind; anything else a caller binds
# (LangChain bookkeeping such as ls_structured_output_format) is not sent.
OPENAI_FIELDS = frozenset(
    "temperature max_tokens max_completion_tokens top_p seed stop n presence_penalty frequency_penalty logit_bias "
    "logprobs top_logprobs tools tool_choice parallel_tool_calls response_format user".split())
# vLLM's own sampling and decoding fields (sent in the request body beside the OpenAI ones).
VLLM_FIELDS = frozenset(
    "top_k min_p repetition_penalty structured_outputs chat_template_kwargs min_tokens ignore_eos "
    "skip_special_tokens include_stop_str_in_output".split())
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
_MAX_JSON_STARTS = 20
_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_NUMBER_START = re.compile(r"-?\d*(\.\d*)?([eE][+-]?\d*)?")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)\s*(?:```|$)", re.DOTALL)


# ------------------------------------------------------------------------------------------------ requests


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI chat messages (assistant tool calls carry their arguments as JSON text)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = _ROLES.get(m.type) or getattr(m, "role", None) or "user"
        item: dict[str, Any] = {"role": role, "content": _text(m)}
        if isinstance(m, AIMessage) and m.tool_calls:
            item["tool_calls"] = [
                {"id": c.get("id") or f"call_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["args"], ensure_ascii=False)}}
                for i, c in enumerate(m.tool_calls)
            ]
        if isinstance(m, ToolMessage):
            item["tool_call_id"] = m.tool_call_id
        out.append(item)
    return out


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)


def openai_tool_choice(choice: str | bool | dict[str, Any] | None, tools: list[dict[str, Any]]) -> Any:
    """A LangChain tool_choice (None, "auto", "none", "required"/"any"/True, a tool name, a dict) in OpenAI form."""
    if choice is None or isinstance(choice, dict) or choice in ("auto", "none", "required"):
        return choice
    if choice is True or choice == "any":
        return "required"
    names = [t["function"]["name"] for t in tools]
    if choice not in names:
        raise InputError(f"tool_choice {choice!r} is not among the bound tools: {', '.join(names) or 'none'}")
    return {"type": "function", "function": {"name": choice}}


def openai_response_format(response_format: Any) -> Any:
    """A response_format given as a pydantic class becomes a json_schema format; dicts pass unchanged."""
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return {"type": "json_schema", "json_schema": {"name": response_format.__name__,
                                                       "schema": response_format.model_json_schema()}}
    return response_format


def split_params(params: dict[str, Any], *, structured_outputs: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OpenAI fields, vLLM extra fields) from call options. With `structured_outputs`, a json_schema
    response_format is sent as vLLM's `structured_outputs: {"json": schema}` instead."""
    fields = {k: v for k, v in params.items() if k in OPENAI_FIELDS and v is not None}
    extra = {k: v for k, v in params.items() if k in VLLM_FIELDS and v is not None}
    extra.update(params.get("extra_body") or {})
    if "response_format" in fields:
        fields["response_format"] = openai_response_format(fields["response_format"])
        rf = fields["response_format"]
        if structured_outputs and isinstance(rf, dict) and rf.get("type") == "json_schema":
            del fields["response_format"]
            extra.setdefault("structured_outputs", {"json": rf["json_schema"]["schema"]})
    return fields, extra


# ------------------------------------------------------------------------------------------------ replies


def repair_json(text: str) -> Any:
    """The JSON value in `text`, closing what a cut-off answer left open (strings, arrays, objects) and dropping
    an unfinished last member (langchain-core's `parse_partial_json`); None when nothing sensible can be recovered
    or the text is malformed (rather than cut short)."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not _is_cut_short(text, exc):
            return None
    try:
        return parse_partial_json(text)
    except ValueError:
        return None


def _is_cut_short(text: str, error: json.JSONDecodeError) -> bool:
    """True when parsing failed only because the text ends early (not because something in it is wrong)."""
    tail = text[error.pos:]
    if not tail or error.msg.startswith("Unterminated string"):
        return True
    return any(word.startswith(tail) for word in ("true", "false", "null")) or bool(_NUMBER_START.fullmatch(tail))


def parse_arguments(raw: str | dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """(arguments as a dict or None if unusable, whether they had to be repaired) from a tool call's arguments."""
    if isinstance(raw, dict):
        return raw, False
    if raw is None or not raw.strip():
        return {}, False
    try:
        value = json.loads(raw)
        repaired = False
    except ValueError:
        value = repair_json(raw)
        repaired = True
    return (value, repaired) if isinstance(value, dict) else (None, repaired)


@dataclass
class RawCall:
    """A tool call as the server gave it: arguments still raw (JSON text or a dict); `broken` when the call
    itself was cut off before its arguments."""

    name: str | None
    arguments: str | dict[str, Any] | None
    id: str | None = None
    broken: bool = False
    repaired: bool = False


def _call_shape(value: Any, repaired: bool) -> RawCall | None:
    """The tool call `value` spells in any of the usual ways, else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name") or value.get("tool") or value.get("tool_name")
    if not isinstance(name, str):
        return None
    for key in ("arguments", "parameters", "args", "tool_input", "input"):
        if key in value:
            return RawCall(name, value[key], repaired=repaired)
    return RawCall(name, {}, broken=repaired)


def _calls_in(value: Any, repaired: bool) -> list[RawCall]:
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    shapes = [_call_shape(v, repaired) for v in items]
    return [s for s in shapes if s is not None] if items and all(shapes) else []


def _decode_start(text: str) -> tuple[Any, bool]:
    """(the JSON value at the start of `text`, whether it had to be repaired); trailing prose is ignored."""
    try:
        return json.JSONDecoder().raw_decode(text.strip())[0], False
    except ValueError:
        return repair_json(text), True


def tool_calls_from_content(content: str, names: Sequence[str]) -> tuple[list[RawCall], str]:
    """(tool calls written into a reply's text, the text left around them). Hermes `<tool_call>` tags first
    (an unreadable one is a broken call), then fenced blocks, then a bare JSON value; calls are kept only when
    every name is one of `names`."""
    if not content or not names:
        return [], content
    tagged = list(_HERMES.finditer(content))
    if tagged:
        calls = [c for m in tagged for c in _calls_in(*_decode_start(m.group(1))) or [_broken(m.group(1), names)]]
        if all(c.name in names or c.broken for c in calls):
            return calls, _HERMES.sub("", content).strip()
        return [], content
    fenced = list(_FENCE.finditer(content))
    if fenced:
        calls = [c for m in fenced for c in _calls_in(*_decode_start(m.group(1)))]
        if calls and all(c.name in names for c in calls):
            return calls, _FENCE.sub("", content).strip()
        return [], content
    starts = [i for i, ch in enumerate(content) if ch in "{["][:_MAX_JSON_STARTS]
    for start in starts:
        calls = _calls_in(*_decode_start(content[start:]))
        if calls:
            return (calls, content[:start].strip()) if all(c.name in names for c in calls) else ([], content)
    return [], content


def _broken(body: str, names: Sequence[str]) -> RawCall:
    """A `<tool_call>` block with no readable call in it (cut off early): named only when one tool could be meant."""
    return RawCall(names[0] if len(names) == 1 else None, body, broken=True)


def build_tool_calls(raw_calls: Sequence[RawCall]) -> tuple[list[ToolCall], list[InvalidToolCall], list[str]]:
    """(tool_calls, invalid_tool_calls, ids of repaired calls) in LangChain's form."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    repaired: list[str] = []
    for i, raw in enumerate(raw_calls):
        call_id = raw.id or f"call_{i}"
        args, was_repaired = (None, True) if raw.broken else parse_arguments(raw.arguments)
        if args is None or not raw.name:
            text = raw.arguments if isinstance(raw.arguments, str) else json.dumps(raw.arguments, ensure_ascii=False)
            invalid.append({"name": raw.name, "args": text, "id": call_id, "type": "invalid_tool_call",
                            "error": "the call was cut off: its arguments are not a JSON object and could not be "
                                     "repaired"})
            continue
        calls.append({"name": raw.name, "args": args, "id": call_id, "type": "tool_call"})
        if was_repaired or raw.repaired:
            repaired.append(call_id)
    return calls, invalid, repaired


def tool_names(tools: Sequence[dict[str, Any]] | None) -> list[str]:
    """Names of OpenAI-format tools."""
    return [t["function"]["name"] for t in tools or [] if t.get("type") == "function"]


# ------------------------------------------------------------------------------------------------ streaming


def bound_names(fields: dict[str, Any]) -> list[str]:
    """Names of the tools a reply may call: none with tool_choice "none", the one named, else every bound tool."""
    choice = fields.get("tool_choice")
    if choice == "none":
        return []
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return [choice["function"]["name"]]
    return tool_names(fields.get("tools"))


def native_calls(message: dict[str, Any]) -> list[RawCall]:
    """The tool calls of a non-streamed reply message, arguments still raw."""
    return [RawCall(c["function"].get("name"), c["function"].get("arguments"), c.get("id"))
            for c in message.get("tool_calls") or []]


class StreamState:
    """What a streamed reply has delivered so far. Text that opens like a tool call (`{`, `[`, a code fence,
    `<tool_call>`) is held back when tools are bound, so that it can become tool calls instead of prose."""

    _CALL_OPENERS = ("{", "[", "```", "<tool_call>")

    def __init__(self, hold_calls: bool) -> None:
        self.hold_calls = hold_calls
        self.deciding = hold_calls
        self.held = ""
        self.streamed: list[str] = []
        self.native: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.data: dict[str, Any] = {}

    def add(self, chunk: dict[str, Any]) -> str:
        """Record one chunk; returns the text to pass on now."""
        self.data = {"id": chunk.get("id"), "model": chunk.get("model"),
                     "usage": chunk.get("usage") or self.data.get("usage")}
        text = ""
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            self.finish = choice.get("finish_reason") or self.finish
            for part in delta.get("tool_calls") or []:
                self._add_call_part(part)
            text += delta.get("content") or ""
        return self._route(text)

    def _add_call_part(self, part: dict[str, Any]) -> None:
        call = self.native.setdefault(part.get("index") or 0, {"id": None, "name": None, "arguments": ""})
        function = part.get("function") or {}
        call["id"] = call["id"] or part.get("id")
        call["name"] = call["name"] or function.get("name")
        call["arguments"] += function.get("arguments") or ""

    def _route(self, text: str) -> str:
        if not self.hold_calls or not (self.deciding or self.held):
            self.streamed.append(text)
            return text
        self.held += text
        head = self.held.lstrip()
        if self.deciding and head:
            if any(head.startswith(o) for o in self._CALL_OPENERS):
                self.deciding = False
            elif not any(o.startswith(head) for o in self._CALL_OPENERS):
                self.deciding = False
                text, self.held = self.held, ""
                self.streamed.append(text)
                return text
        return ""

    def calls(self) -> list[RawCall]:
        """The native tool calls assembled from the deltas."""
        return [RawCall(c["name"], c["arguments"], c["id"]) for _, c in sorted(self.native.items())]
