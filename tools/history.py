"""User history: shopper events (search, view, click, add_to_cart, purchase) and chat sessions, kept in a SQL
database — a SQLite file in DATA_DIR by default, any SQLAlchemy URL (PostgreSQL…) at scale.

Durability: on SQLite an event is on disk once ``record`` or ``record_many`` returns (WAL journal with
``synchronous=FULL``: the WAL is fsynced at every commit; details, locking and migrations in tools/history_db.py).
A batch is one transaction: all of it is stored or none. A database that cannot be opened, reached or locked in
time raises HistoryUnavailable (HistoryBusy for a lock held past the busy timeout: nothing was written)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, CursorResult, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from tools.core.errors import InputError, ShopqueryError
from tools.history_db import (
    LATEST_VERSION,
    MAX_QUERY,
    MAX_USER_ID,
    HistoryBusy,
    HistoryUnavailable,
    apply_migrations,
    events_t,
    open_engine,
    probe_sqlite_lock,
    safe_url,
    sessions_t,
    write_transaction,
)
from tools.history_profile import ProductLookup, UserProfile, build_profile

DEFAULT_FILE = "history.db"
PROFILE_WINDOW = 500
MAX_SESSION_STATE = 1_000_000


class EventType(StrEnum):
    """What the shopper did."""

    SEARCH = "search"
    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    PURCHASE = "purchase"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Event(BaseModel):
    """One shopper event: a search needs the query, every other type the product id."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=MAX_USER_ID)
    type: EventType
    product_id: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY)
    ts: datetime = Field(default_factory=utc_now, description="when it happened (UTC; naive times are UTC)")

    @field_validator("ts")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _needs_target(self) -> Event:
        if self.type is EventType.SEARCH and not self.query:
            raise ValueError("a search event needs the query")
        if self.type is not EventType.SEARCH and not self.product_id:
            raise ValueError(f"a {self.type.value} event needs the product_id")
        return self


class StoredEvent(Event):
    """An event as stored, with its id."""

    id: int


def parse_event(data: Event | Mapping[str, Any]) -> Event:
    """Validate one event; raises InputError that names every bad field."""
    if isinstance(data, Event):
        return data
    try:
        return Event.model_validate(dict(data))
    except ValidationError as exc:
        raise InputError(f"invalid event: {_explain(exc)}") from None
    except TypeError:
        raise InputError(f"an event must be an object with user_id and type, got {type(data).__name__}") from None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


# -- the store ---------------------------------------------------------------------------------------------------------
class HistoryStore:
    """Events and sessions in one SQL database; thread-safe (one pooled connection per call)."""

    def __init__(self, url: str | None = None, data_dir: Path | None = None, busy_timeout_s: float = 5.0):
        if url is None:
            if data_dir is None:
                raise HistoryUnavailable("give the history store a database URL or a data directory")
            url = f"sqlite:///{Path(data_dir).expanduser() / DEFAULT_FILE}"
        self.url = url
        self.busy_timeout_s = busy_timeout_s
        self.engine = open_engine(url, busy_timeout_s)
        with self._guard("opening"):
            self.version = apply_migrations(self.engine)

    @classmethod
    def from_settings(cls, settings: Any) -> HistoryStore:
        """The store named by Settings (history_url, else DATA_DIR/history.db)."""
        return cls(settings.history_url, settings.data_dir)

    @property
    def display_url(self) -> str:
        """The database URL with any password hidden."""
        return safe_url(self.url)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def health(self, wait_s: float = 0.2) -> dict[str, Any]:
        """Whether events can be written now: SQLite takes and releases the write lock within `wait_s`, other
        databases answer a trivial query. {"status": "ok"|"unavailable", "reason": ...}."""
        try:
            with self._guard("checking health"):
                if self.engine.dialect.name == "sqlite":
                    probe_sqlite_lock(self.engine, wait_s, self.busy_timeout_s)
                else:
                    with self.engine.connect() as conn:
                        conn.execute(select(1))
        except HistoryUnavailable as exc:
            return {"status": "unavailable", "reason": str(exc)}
        except sqlite3.Error as exc:
            return {"status": "unavailable", "reason": f"history database {self.display_url}: {exc} (the write "
                                                       f"lock is held by another connection)"}
        return {"status": "ok", "reason": None}

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except ShopqueryError:
            raise
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            message = f"history database {self.display_url} unavailable while {action}: {detail}"
            if "locked" in detail or "busy" in detail:
                raise HistoryBusy(f"{message} (held by another connection for more than {self.busy_timeout_s:g} s;"
                                  " nothing was written)", retry_after_s=max(1.0, self.busy_timeout_s)) from exc
            raise HistoryUnavailable(message) from exc

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        with self._guard(action), write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        with self._guard(action), self.engine.connect() as conn:
            yield conn

    # -- events --------------------------------------------------------------------------------------------------
    def record(self, event_data: Event | Mapping[str, Any]) -> int:
        """Store one event (validated first); returns its id once it is committed."""
        ev = parse_event(event_data)
        with self._writing("recording an event") as conn:
            return _new_id(conn.execute(insert(events_t).values(**_row(ev))))

    def record_many(self, events: Sequence[Event | Mapping[str, Any]]) -> int:
        """Store events in one transaction: every one is validated first, and either all are written or none."""
        return len(self.record_many_ids(events))

    def record_many_ids(self, events: Sequence[Event | Mapping[str, Any]]) -> list[int]:
        """Like `record_many`, returning the stored events' ids in the given order once they are committed."""
        rows = []
        for i, data in enumerate(events):
            try:
                rows.append(_row(parse_event(data)))
            except InputError as exc:
                raise InputError(f"event {i}: {exc}; nothing was recorded") from None
        if not rows:
            return []
        statement = insert(events_t)
        with self._writing("recording events") as conn:
            return [_new_id(conn.execute(statement.values(**row))) for row in rows]

    def replace_user_events(self, user_ids: list[str], events: list[Event]) -> int:
        """Delete these users' events and store `events` instead, in one transaction (used to reset demo users)."""
        rows = [_row(parse_event(e)) for e in events]
        with self._writing("replacing events") as conn:
            conn.execute(delete(events_t).where(events_t.c.user_id.in_(user_ids)))
            if rows:
                conn.execute(insert(events_t), rows)
        return len(rows)

    def forget_user(self, user_id: str) -> int:
        """Delete every event of a user; returns how many were deleted."""
        with self._writing("deleting events") as conn:
            return int(conn.execute(delete(events_t).where(events_t.c.user_id == user_id)).rowcount or 0)

    def events(self, user_id: str, n: int = 50) -> list[StoredEvent]:
        """The user's latest `n` events, newest first."""
        query = (select(events_t).where(events_t.c.user_id == user_id)
                 .order_by(events_t.c.ts.desc(), events_t.c.id.desc()).limit(max(0, n)))
        with self._reading("reading events") as conn:
            return [_stored(row) for row in conn.execute(query).mappings()]

    def count_events(self, user_id: str | None = None) -> int:
        """How many events are stored (for one user, or in all)."""
        query = select(func.count()).select_from(events_t)
        if user_id is not None:
            query = query.where(events_t.c.user_id == user_id)
        with self._reading("counting events") as conn:
            return int(conn.execute(query).scalar() or 0)

    def last_event_id(self) -> int:
        """The highest event id (0 when empty): a cheap change marker for derived models."""
        with self._reading("reading events") as conn:
            return int(conn.execute(select(func.max(events_t.c.id))).scalar() or 0)

    def recent_queries(self, user_id: str, n: int = 10) -> list[str]:
        """The user's latest distinct search queries, newest first."""
        query = (select(events_t.c.query).where(events_t.c.user_id == user_id, events_t.c.type == "search")
                 .order_by(events_t.c.ts.desc(), events_t.c.id.desc()).limit(max(0, n) * 5))
        with self._reading("reading queries") as conn:
            found: dict[str, str] = {}
            for row in conn.execute(query):
                text = row[0]
                found.setdefault(" ".join(text.lower().split()), text)
        return list(found.values())[:n]

    def iter_interactions(self, batch: int = 5000) -> Iterator[tuple[str, str, str]]:
        """Every (user_id, product_id, event type) of non-search events, in id order, read in batches."""
        last = 0
        while True:
            query = (select(events_t.c.id, events_t.c.user_id, events_t.c.product_id, events_t.c.type)
                     .where(events_t.c.id > last, events_t.c.type != "search").order_by(events_t.c.id).limit(batch))
            with self._reading("reading events") as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            last = rows[-1][0]
            yield from ((row[1], row[2], row[3]) for row in rows)  # (user_id, product_id, type)

    def profile(self, user_id: str, product_lookup: ProductLookup, window: int = PROFILE_WINDOW) -> UserProfile:
        """What the user's latest `window` events say about them; an empty profile for an unknown user."""
        events = self.events(user_id, window)
        total = self.count_events(user_id) if len(events) >= window else len(events)
        return build_profile(user_id, events, product_lookup, total)

    # -- sessions ------------------------------------------------------------------------------------------------
    def save_session(self, session_id: str, user_id: str | None, state: dict[str, Any]) -> None:
        """Store a conversation's state (JSON), replacing any earlier state of the session."""
        text = _session_json(session_id, state)
        values = {"user_id": user_id or None, "state": text, "updated_at": utc_now()}
        with self._writing("saving a session") as conn:
            changed = conn.execute(update(sessions_t).where(sessions_t.c.session_id == session_id).values(**values))
            if not changed.rowcount:
                conn.execute(insert(sessions_t).values(session_id=session_id, **values))

    def load_session(self, session_id: str) -> dict[str, Any] | None:
        """A session's state, or None when there is no such session."""
        query = select(sessions_t.c.state).where(sessions_t.c.session_id == session_id)
        with self._reading("loading a session") as conn:
            text = conn.execute(query).scalar()
        return None if text is None else json.loads(text)

    def delete_session(self, session_id: str) -> bool:
        """Forget a session; True when it existed."""
        with self._writing("deleting a session") as conn:
            return bool(conn.execute(delete(sessions_t).where(sessions_t.c.session_id == session_id)).rowcount)


def _row(ev: Event) -> dict[str, Any]:
    return {"user_id": ev.user_id, "type": ev.type.value, "product_id": ev.product_id, "query": ev.query,
            "ts": ev.ts}


def _new_id(result: CursorResult[Any]) -> int:
    """The id a one-row insert generated."""
    key = result.inserted_primary_key
    if key is None:  # only a many-row or non-insert statement has none
        raise HistoryUnavailable("the history database returned no id for the new event")
    return int(key[0])


def _stored(row: RowMapping) -> StoredEvent:
    ts = row["ts"]
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return StoredEvent(id=row["id"], user_id=row["user_id"], type=row["type"], product_id=row["product_id"],
                       query=row["query"], ts=ts)


def _session_json(session_id: str, state: dict[str, Any]) -> str:
    if not isinstance(session_id, str) or not session_id.strip() or len(session_id) > 128:
        raise InputError("a session id must be 1-128 characters of text")
    if not isinstance(state, dict):
        raise InputError(f"a session state must be a JSON object, got {type(state).__name__}")
    try:
        text = json.dumps(state, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the session state is not JSON-serialisable: {exc}") from None
    if len(text) > MAX_SESSION_STATE:
        raise InputError(f"the session state is {len(text)} characters; the limit is {MAX_SESSION_STATE}")
    return text


__all__ = ["LATEST_VERSION", "Event", "EventType", "HistoryBusy", "HistoryStore", "HistoryUnavailable", "StoredEvent",
           "UserProfile", "apply_migrations", "open_engine", "parse_event"]
