"""Running chat turns for the HTTP API: errors as OpenAI-shaped bodies, the bridge that carries streamed tokens
from a worker thread to the event loop, and a turn started in a model slot (one turn per session at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from assistant.api_security import ApiError, SlotsBusy, error_body, retry_after
from assistant.validation import clean_query
from tools.core.errors import CatalogError, InputError, ModelUnavailable, ShopqueryError
from tools.history_db import HistoryUnavailable

log = logging.getLogger("shopquery.api")


def classify_error(exc: BaseException) -> tuple[int, str, str, dict[str, str]]:
    """Status, code, message and headers for an exception; unexpected ones are logged, never shown."""
    if isinstance(exc, ApiError):
        return exc.status, exc.kind, exc.message, exc.headers
    if isinstance(exc, InputError):
        return 400, "invalid_request", str(exc), {}
    if isinstance(exc, HistoryUnavailable):
        return 503, "unavailable", str(exc), retry_after(exc.retry_after_s)
    if isinstance(exc, ModelUnavailable | CatalogError):
        return 503, "unavailable", str(exc), retry_after(5.0)
    if isinstance(exc, ShopqueryError):
        return 500, "server_error", str(exc), {}
    ref = uuid.uuid4().hex[:12]
    log.error("internal error %s", ref, exc_info=exc)
    return 500, "internal_error", f"internal error (reference {ref}; details are in the server log)", {}


def error_payload(exc: BaseException) -> dict[str, Any]:
    """`{"error": {...}}` for an exception (the body of an error response or of an error event)."""
    status, code, message, _ = classify_error(exc)
    return {"error": error_body(status, code, message, getattr(exc, "param", None))}


class TokenBridge:
    """Carries the tokens a worker thread streams to the event loop; ends when the turn's future is done."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.texts: list[str] = []

    def put(self, text: str) -> None:
        """Called from the worker thread for every piece of the reply."""
        self.texts.append(text)
        with contextlib.suppress(RuntimeError):  # a server shutting down: the turn still finishes and is saved
            self.loop.call_soon_threadsafe(self.queue.put_nowait, text)

    def end_with(self, future: asyncio.Future) -> None:
        """Stop the token stream when `future` completes (after every token already sent)."""
        future.add_done_callback(lambda _: self.queue.put_nowait(None))

    async def tokens(self) -> AsyncIterator[str]:
        """The tokens, in order."""
        while (text := await self.queue.get()) is not None:
            yield text


async def run_in_slot(api: Any, work: Callable[[], Any], session_id: str) -> tuple[asyncio.Future, float]:
    """Take a model slot and run `work` in a worker thread for `session_id` (409 while another turn of it runs);
    returns its future and the milliseconds spent waiting for the slot."""
    if session_id in api.active:
        raise ApiError(409, "conflict", "a turn of this session is still running; send the next message after it")
    started = time.perf_counter()
    api.active.add(session_id)
    context = contextvars.copy_context()  # the worker thread logs with this request's id
    try:
        future = await api.slots.start(lambda: context.run(work), on_done=lambda: api.active.discard(session_id))
    except SlotsBusy:
        api.active.discard(session_id)
        api.metrics.rejected.inc()
        raise
    waited = time.perf_counter() - started
    api.metrics.queue_wait.observe(waited)
    return future, waited * 1000


def agent_turn(api: Any, text: str, session_id: str, user_id: str | None, surface: str,
               on_token: Callable[[str], None] | None = None, after: Callable[[Any], None] | None = None,
               max_tokens: int | None = None) -> Any:
    """The agent's turn (run in a worker thread), counted and noted."""
    options = {"max_tokens": max_tokens} if max_tokens else {}
    turn = api.assistant.agent.respond(text, session_id=session_id, user_id=user_id, on_token=on_token, **options)
    turn.notes.extend(api.assistant.degraded_notes())
    api.after_turn(turn, surface)
    if after is not None:
        after(turn)
    return turn


async def start_turn(api: Any, message: str, session_id: str | None, user_id: str | None, surface: str,
                     bridge: TokenBridge | None = None,
                     after: Callable[[Any], None] | None = None) -> tuple[asyncio.Future, str, float]:
    """Validate the message, take a model slot and start the agent's turn in a worker thread; returns its future,
    the session id and the milliseconds spent waiting for the slot."""
    text = clean_query(message, api.settings.max_query_chars)
    session_id = session_id or uuid.uuid4().hex
    on_token = bridge.put if bridge is not None else None
    future, queue_ms = await run_in_slot(
        api, lambda: agent_turn(api, text, session_id, user_id, surface, on_token, after), session_id)
    if bridge is not None:
        bridge.end_with(future)
    return future, session_id, queue_ms
