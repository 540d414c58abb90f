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
)
from assistant.api_models import CompletionMessage as Message
from assistant.errors import InputError

SERVED_MODEL = "shopquery"
DERIVED_PREFIX = "oc-"


def split_turn(request: ChatCompletionRequest) -> tuple[str, list[tuple[str, str]]]:
    """The last user message's text and the user/assistant exchanges before it; InputError when there is none."""
    roles = [m.role for m in request.messages]
    if "user" not in roles:
        raise InputError("the messages hold no user message; the last user message is the shopper's turn")
    last = len(roles) - 1 - roles[::-1].index("user")
    try:
        text = request.messages[last].text()
        earlier = [(m.role, m.text()) for m in request.messages[:last] if m.role in ("user", "assistant")]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return text, earlier


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
            raise InputError("the session id must be 1-128 characters of letters, digits and . _ : @ -")
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


def completion(turn: ChatResponse, cid: str, created: int | None = None) -> ChatCompletion:
    """A non-streamed `chat.completion` for a turn."""
    return ChatCompletion(id=cid, created=created or int(time.time()), model=SERVED_MODEL,
                          choices=[CompletionChoice(message=Message(content=turn.reply))], shopquery=turn)


def chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk`."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": SERVED_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return body | (extra or {})


def data_frame(payload: dict[str, Any] | str) -> bytes:
    """One `data:` server-sent event as OpenAI streams them."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
