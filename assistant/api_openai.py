"""The OpenAI-compatible face of the chat: which message is the turn, which session it belongs to, and the
`chat.completion` / `chat.completion.chunk` objects that carry the reply (the full turn rides along in `shopquery`).

Sessions: an `X-Session-Id` header wins, then `metadata.session_id`; without either, a conversation that a client
replays in full (as chat frameworks do) is found again by a digest of its earlier user and assistant messages (and
the `user` field), so multi-turn refinement works with an unmodified client."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

from assistant.api_models import (
    ID_PATTERN,
    ChatCompletion,
    ChatCompletionRequest,
    ChatResponse,
    CompletionChoice,
    CompletionUsage,
    FunctionCall,
    ToolCallItem,
)
from assistant.api_models import CompletionMessage as Message
from assistant.api_security import ApiError
from assistant.client_tools import ClientTool, ModelAnswer, Usage
from assistant.json_output import schema_problem

SERVED_MODEL = "shopquery"
DERIVED_PREFIX = "oc-"


RESULT_CHARS = 2000
_LC_ROLES = {"system": "system", "developer": "system", "user": "human", "assistant": "ai"}


def _bad(message: str, param: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


def split_turn(request: ChatCompletionRequest) -> tuple[str, list[tuple[str, str]]]:
    """The last user message's text and the user/assistant exchanges before it; 400 when there is none."""
    roles = [m.role for m in request.messages]
    if "user" not in roles:
        raise _bad("the messages hold no user message; the last user message is the shopper's turn", "messages")
    last = len(roles) - 1 - roles[::-1].index("user")
    try:
        text = request.messages[last].text()
        earlier: list[tuple[str, str]] = [(m.role, m.text()) for m in request.messages[:last]
                                          if m.role in ("user", "assistant")]
    except ValueError as exc:
        raise _bad(str(exc), "messages") from None
    return text, earlier


# --- what the request asks for beyond a turn ---------------------------------------------------------------------
def client_tools(request: ChatCompletionRequest) -> list[ClientTool]:
    """The client's function tools, their parameter schemas checked; 400 naming the tool that is not usable."""
    tools = []
    for i, spec in enumerate(request.tools or []):
        schema = spec.function.parameters or {"type": "object", "properties": {}}
        problem = schema_problem(schema)
        if problem is not None:
            raise _bad(f"tool {spec.function.name}: {problem}", f"tools[{i}].function.parameters")
        tools.append(ClientTool(spec.function.name, spec.function.description or "", schema))
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise _bad("two tools have the same name", "tools")
    return tools


def tool_choice(request: ChatCompletionRequest, tools: list[ClientTool]) -> str:
    """"none", "auto", "required" or the name of the tool the client forces; 400 for a choice that cannot be
    honoured."""
    choice = request.tool_choice
    if isinstance(choice, dict):
        function = choice.get("function") if choice.get("type") == "function" else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            raise _bad("tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": "
                       "{\"name\": ...}}", "tool_choice")
        choice = name
    choice = choice or ("auto" if tools else "none")
    if choice in ("none", "auto"):
        return choice
    if not tools:
        raise _bad(f"tool_choice {choice!r} needs tools", "tool_choice")
    if choice != "required" and choice not in {t.name for t in tools}:
        raise _bad(f"tool_choice names {choice!r}, which is not among the tools", "tool_choice")
    return choice


def response_schema(request: ChatCompletionRequest) -> dict[str, Any] | None:
    """The JSON schema the answer must match (json_schema, or any object for json_object); None for text; 400
    for a format that cannot be honoured."""
    fmt = request.response_format
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    if fmt.get("type") != "json_schema":
        raise _bad(f"response_format type {fmt.get('type')!r} is not supported (text, json_object, json_schema)",
                   "response_format")
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if schema is None:
        raise _bad("response_format json_schema needs json_schema.schema", "response_format.json_schema")
    problem = schema_problem(schema)
    if problem is not None:
        raise _bad(problem, "response_format.json_schema.schema")
    return schema


def tool_results(request: ChatCompletionRequest) -> list[dict[str, str]]:
    """The results of the client's tools sent after the last user message (with the call each answers); empty
    when the request ends with a user message."""
    roles = [m.role for m in request.messages]
    last = len(roles) - 1 - roles[::-1].index("user") if "user" in roles else -1
    after = request.messages[last + 1:]
    calls = {c.id: c.function for m in after if m.role == "assistant" for c in m.tool_calls or []}
    results = []
    for m in after:
        if m.role not in ("tool", "function"):
            continue
        call = calls.get(m.tool_call_id or "")
        try:
            text = m.text()
        except ValueError as exc:
            raise _bad(str(exc), "messages") from None
        results.append({"name": call.name if call else (m.name or "tool"),
                        "arguments": call.arguments if call else "{}", "result": text[:RESULT_CHARS]})
    return results


def conversation(request: ChatCompletionRequest) -> list[tuple[str, str]]:
    """The system, user and assistant messages as (LangChain role, text), for model calls."""
    out = []
    for m in request.messages:
        if m.role in _LC_ROLES:
            try:
                out.append((_LC_ROLES[m.role], m.text()))
            except ValueError as exc:
                raise _bad(str(exc), "messages") from None
    return out


def reply_cap(request: ChatCompletionRequest) -> int | None:
    """The client's cap on the reply, in tokens."""
    return request.max_completion_tokens or request.max_tokens


def conversation_key(exchanges: list[tuple[str, str]], user: str | None) -> str | None:
    """A session id derived from a conversation's user/assistant messages (None for a first turn)."""
    if not any(role == "assistant" for role, _ in exchanges):
        return None
    canonical = [[role, " ".join(text.split())] for role, text in exchanges]
    digest = hashlib.sha256(json.dumps([user or "", canonical], ensure_ascii=False).encode("utf-8"))
    return DERIVED_PREFIX + digest.hexdigest()[:40]


def session_of(request: ChatCompletionRequest, header: str | None,
               exchanges: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """The session the turn belongs to and whether it was derived from the history (header, metadata, digest)."""
    explicit = header or (request.metadata or {}).get("session_id")
    if explicit is not None:
        if not isinstance(explicit, str) or not re.match(ID_PATTERN, explicit):
            raise _bad("the session id must be 1-128 characters of letters, digits and . _ : @ -",
                       "metadata.session_id")
        return explicit, False
    return conversation_key(exchanges, request.user), True


def next_key(exchanges: list[tuple[str, str]], text: str, reply: str, user: str | None) -> str | None:
    """The digest a client replaying this conversation will send next turn."""
    return conversation_key([*exchanges, ("user", text), ("assistant", reply)], user)


def alias_session(sessions: Any, session_id: str, alias: str) -> None:
    """Store the session's state under `alias` too, so the replayed conversation finds it."""
    state = sessions.load(session_id)
    if state is not None:
        sessions.save(state.model_copy(update={"session_id": alias}))


def restore_history(agent: Any, sessions: Any, session_id: str, exchanges: list[tuple[str, str]],
                    user: str | None) -> bool:
    """When the session is not stored but the client sent the earlier messages, rebuild the conversation from
    them (the user turns replayed through the rules and the search, no model), so the turn is read as a
    stored session would read it; True when it was rebuilt."""
    if not any(role == "user" for role, _ in exchanges) or sessions.load(session_id) is not None:
        return False
    agent.restore(session_id, exchanges, user)
    return True


def completion_id() -> str:
    """A fresh completion id."""
    return "chatcmpl-" + uuid.uuid4().hex


def usage_of(usage: Usage) -> CompletionUsage:
    """The OpenAI usage object."""
    return CompletionUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                           total_tokens=usage.prompt_tokens + usage.completion_tokens)


def turn_usage(turn: Any, before: Usage | None = None) -> Usage:
    """Tokens of a turn's model calls (from its trace), plus those spent `before` it."""
    usage = Usage(before.prompt_tokens, before.completion_tokens) if before else Usage()
    for step in turn.trace:
        if step.kind == "model" and step.tokens:
            usage.add_counts(step.tokens.get("prompt", 0), step.tokens.get("completion", 0))
    return usage


def turn_finish(turn: Any, capped: bool) -> str:
    """"length" when the client capped the reply (`max_tokens`) and the model's reply was cut off there, else
    "stop" (the assistant's own cap on its line of advice is not the client's limit)."""
    steps = [s for s in turn.trace if s.kind == "model" and s.name.startswith("reply:")]
    cut = turn.used_model and steps and steps[-1].finish_reason == "length"
    return "length" if capped and cut else "stop"


def completion(turn: ChatResponse, cid: str, usage: Usage, finish: str = "stop",
               created: int | None = None) -> ChatCompletion:
    """A non-streamed `chat.completion` for a turn."""
    choice = CompletionChoice(message=Message(content=turn.reply), finish_reason=finish)  # type: ignore[arg-type]
    return ChatCompletion(id=cid, created=created or int(time.time()), model=SERVED_MODEL, choices=[choice],
                          usage=usage_of(usage), shopquery=turn)


def tool_call_items(answer: ModelAnswer) -> list[ToolCallItem] | None:
    """The answer's tool calls in the OpenAI form (arguments as JSON text)."""
    if not answer.tool_calls:
        return None
    return [ToolCallItem(id=c.id, function=FunctionCall(name=c.name, arguments=json.dumps(c.arguments,
                                                                                         ensure_ascii=False)))
            for c in answer.tool_calls]


def answer_completion(answer: ModelAnswer, cid: str) -> ChatCompletion:
    """A non-streamed `chat.completion` for an answer without a turn (tool calls, tool results, JSON)."""
    message = Message(content=answer.content, tool_calls=tool_call_items(answer))
    choice = CompletionChoice(message=message, finish_reason=answer.finish_reason)  # type: ignore[arg-type]
    return ChatCompletion(id=cid, created=int(time.time()), model=SERVED_MODEL, choices=[choice],
                          usage=usage_of(answer.usage))


def chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None,
          extra: dict[str, Any] | None = None, with_usage: bool = False) -> dict[str, Any]:
    """One `chat.completion.chunk` (with `"usage": null` when the client asked for usage)."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": SERVED_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if with_usage:
        body["usage"] = None
    return body | (extra or {})


def usage_chunk(cid: str, created: int, usage: Usage) -> dict[str, Any]:
    """The last chunk of a stream with `include_usage`: no choices, the usage."""
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": SERVED_MODEL,
            "choices": [], "usage": usage_of(usage).model_dump()}


def answer_chunks(answer: ModelAnswer, cid: str, created: int, with_usage: bool) -> list[dict[str, Any]]:
    """The chunks of an answer without a turn: the role, the text or the tool calls, the finish, the usage."""
    frames = [chunk(cid, created, {"role": "assistant", "content": "" if answer.content is not None else None},
                    with_usage=with_usage)]
    items = tool_call_items(answer)
    if items:
        delta = [{"index": i, **item.model_dump()} for i, item in enumerate(items)]
        frames.append(chunk(cid, created, {"tool_calls": delta}, with_usage=with_usage))
    elif answer.content:
        frames.append(chunk(cid, created, {"content": answer.content}, with_usage=with_usage))
    frames.append(chunk(cid, created, {}, answer.finish_reason, with_usage=with_usage))
    if with_usage:
        frames.append(usage_chunk(cid, created, answer.usage))
    return frames


def data_frame(payload: dict[str, Any] | str) -> bytes:
    """One `data:` server-sent event as OpenAI streams them."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
