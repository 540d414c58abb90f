"""A model-call cache for eval runs: `CachedChatModel` wraps any chat model and answers a call it has seen before
(same model identity, messages, bound tools and parameters) from SQLite instead of running the model again.

Keys are the sha256 of a canonical JSON of (model identity, call mode, messages, parameters incl. tools and
tool_choice). Plain calls store the whole reply message (text, tool calls, metadata); streamed calls store the text
and replay it in small chunks. A stream that is abandoned before its end is not stored. The file lives in
`<data_dir>/eval-cache.sqlite` in WAL mode, so several runs can read it at once."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import BaseModel, ConfigDict, PrivateAttr

from assistant.llm_base import JsonChatModel, message_text

CACHE_FILE = "eval-cache.sqlite"
REPLAY_CHARS = 16
_SCHEMA = """CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, mode TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL)"""


class ModelCallCache:
    """Replies by key in one SQLite file (thread-safe; one connection guarded by a lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ModelCallCache:
        """The cache file of a data directory."""
        return cls(Path(data_dir) / CACHE_FILE)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value of a key, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, model: str, mode: str, value: dict[str, Any]) -> None:
        """Store (or replace) the value of a key."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO calls (key, model, mode, value, created) VALUES (?,?,?,?,?)",
                             (key, model, mode, text, time.time()))
            self._db.commit()

    def count(self) -> int:
        """Number of stored calls."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def _plain(value: Any) -> Any:
    """JSON fallback for parameters: pydantic classes by schema, anything else by repr."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"pydantic_schema": value.model_json_schema()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return repr(value)


def _message_key(m: BaseMessage) -> dict[str, Any]:
    item: dict[str, Any] = {"type": m.type, "content": m.content}
    if getattr(m, "tool_calls", None):
        item["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in m.tool_calls]  # type: ignore[attr-defined]
    if getattr(m, "tool_call_id", None):
        item["tool_call_id"] = m.tool_call_id  # type: ignore[attr-defined]
    return item


def call_key(identity: str, mode: str, messages: Sequence[BaseMessage], params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of one call."""
    doc = {"model": identity, "mode": mode, "messages": [_message_key(m) for m in messages],
           "params": {k: v for k, v in params.items() if v is not None}}
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedChatModel(JsonChatModel):
    """Any chat model behind the cache. `stats()` gives the hits and misses of this wrapper."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any
    call_cache: Any
    identity: str
    enabled: bool = True

    _hits: int = PrivateAttr(default=0)
    _misses: int = PrivateAttr(default=0)
    _count_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "shopquery-eval-cache"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"identity": self.identity}

    def stats(self) -> dict[str, int]:
        """{"hits": n, "misses": n} since this wrapper was made."""
        return {"hits": self._hits, "misses": self._misses}

    def _count(self, hit: bool) -> None:
        with self._count_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _lookup(self, mode: str, messages: list[BaseMessage], stop: list[str] | None,
                kwargs: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        key = call_key(self.identity, mode, messages, {**kwargs, "stop": stop})
        found = self.call_cache.get(key) if self.enabled else None
        self._count(found is not None)
        return key, found

    def ensure_ready(self) -> None:
        """Load or reach the wrapped model."""
        ready = getattr(self.inner, "ensure_ready", None)
        if ready is not None:
            ready()

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        key, found = self._lookup("generate", messages, stop, kwargs)
        if found is not None:
            message = messages_from_dict([found["message"]])[0]
        else:
            message = self.inner.invoke(messages, **({"stop": stop} if stop else {}), **kwargs)
            if not isinstance(message, AIMessage):
                message = AIMessage(content=message_text(message))
            if self.enabled:
                self.call_cache.put(key, self.identity, "generate", {"message": message_to_dict(message)})
        finish = (message.response_metadata or {}).get("finish_reason")
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        key, found = self._lookup("stream", messages, stop, kwargs)
        pieces = _replay(found["text"]) if found is not None else self._live(messages, stop, kwargs, key)
        for text in pieces:
            gen = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=gen)
            yield gen

    def _live(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any],
              key: str) -> Iterator[str]:
        parts: list[str] = []
        for chunk in self.inner.stream(messages, **({"stop": stop} if stop else {}), **kwargs):
            text = chunk.content if isinstance(chunk.content, str) else message_text(chunk)
            if text:
                parts.append(text)
                yield text
        if self.enabled:  # reached only when the caller read the stream to its end
            self.call_cache.put(key, self.identity, "stream", {"text": "".join(parts)})

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the way the wrapped model formats them; calls still go through the cache."""
        binding = self.inner.bind_tools(tools, tool_choice=tool_choice, **kwargs)
        if isinstance(binding, RunnableBinding):
            return self.bind(**binding.kwargs)
        from langchain_core.utils.function_calling import convert_to_openai_tool

        formatted = [t if isinstance(t, dict) else convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)


def _replay(text: str) -> Iterator[str]:
    for i in range(0, len(text), REPLAY_CHARS):
        yield text[i:i + REPLAY_CHARS]


def unwrap(model: Any) -> Any:
    """The model inside a CachedChatModel (or the model itself)."""
    return model.inner if isinstance(model, CachedChatModel) else model
