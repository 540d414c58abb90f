"""Where conversation state lives between turns: in memory (bounded, one process) or in the history database (any
number of stateless API replicas share it)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Protocol

from assistant.dialogue import SessionState


class SessionStore(Protocol):
    """Loads and saves SessionState by id."""

    def load(self, session_id: str) -> SessionState | None: ...

    def save(self, state: SessionState) -> None: ...


class MemorySessions:
    """Sessions in this process, the least recently used dropped beyond `capacity`."""

    def __init__(self, capacity: int = 2000):
        self.capacity = capacity
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, session_id: str) -> SessionState | None:
        with self._lock:
            raw = self._items.get(session_id)
            if raw is not None:
                self._items.move_to_end(session_id)
        return SessionState.model_validate_json(raw) if raw is not None else None

    def save(self, state: SessionState) -> None:
        raw = state.model_dump_json()
        with self._lock:
            self._items[state.session_id] = raw
            self._items.move_to_end(state.session_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


class DatabaseSessions:
    """Sessions in the history database's `sessions` table (survive restarts, shared by replicas)."""

    def __init__(self, history: Any):
        self.history = history

    def load(self, session_id: str) -> SessionState | None:
        raw = self.history.load_session(session_id)
        return SessionState.model_validate(raw) if raw else None

    def save(self, state: SessionState) -> None:
        self.history.save_session(state.session_id, state.user_id, state.model_dump(mode="json"))
