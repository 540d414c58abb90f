"""The history database: SQLAlchemy engine set-up, tables and ordered schema migrations.

Durability (SQLite): the journal is WAL with ``synchronous=FULL``, so SQLite fsyncs the WAL at every commit: once a
write transaction returns, its events are on disk and survive a crash or a power cut. Checkpoints of the WAL into
the main file are left to SQLite's automatic checkpointing. Write transactions open with ``BEGIN IMMEDIATE``, so
concurrent writers queue for the lock (up to the busy timeout) instead of failing on a stale snapshot; a writer that
still cannot get the lock fails and nothing of its batch is written.

The schema is versioned: the ``schema_version`` table holds the version and ``MIGRATIONS`` lists the steps in
order; opening a store applies the missing steps in one transaction (idempotent, safe to run from two processes).
Only portable SQLAlchemy Core is used, so the same code runs on PostgreSQL or any server database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tools.core.errors import ShopqueryError

MAX_USER_ID = 128
MAX_QUERY = 512


class HistoryUnavailable(ShopqueryError):
    """The history database cannot be opened, reached or written (bad URL, missing driver, lock held too long)."""

    retry_after_s: float = 5.0


class HistoryBusy(HistoryUnavailable):
    """Another connection held the database lock for longer than the busy timeout: nothing was written and the
    same request can be retried."""

    def __init__(self, message: str, retry_after_s: float = 2.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


# -- schema ----------------------------------------------------------------------------------------------------------
def _event_columns() -> list[Column]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String(MAX_USER_ID), nullable=False),
        Column("type", String(16), nullable=False),
        Column("product_id", String(200)),
        Column("query", String(MAX_QUERY)),
        Column("ts", DateTime(timezone=True), nullable=False),
    ]


def _session_columns() -> list[Column]:
    return [
        Column("session_id", String(128), primary_key=True),
        Column("user_id", String(MAX_USER_ID)),
        Column("state", Text, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ]


tables = MetaData()
events_t = Table("events", tables, *_event_columns())
sessions_t = Table("sessions", tables, *_session_columns())
version_t = Table(
    "schema_version", tables,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)


def _migration_1(conn: Connection) -> None:
    """Events with an index on (user_id, ts)."""
    md = MetaData()
    t = Table("events", md, *_event_columns())
    Index("ix_events_user_ts", t.c.user_id, t.c.ts)
    md.create_all(conn, checkfirst=True)


def _migration_2(conn: Connection) -> None:
    """An index on product_id (co-occurrence, per-product counts) and the sessions table."""
    md = MetaData()
    t = Table("events", md, Column("product_id", String(200)))
    Index("ix_events_product", t.c.product_id).create(conn, checkfirst=True)
    s = Table("sessions", md, *_session_columns())
    Index("ix_sessions_user", s.c.user_id)
    s.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [_migration_1, _migration_2]
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    """The schema version recorded in the database (0 for a new database)."""
    version_t.create(conn, checkfirst=True)
    found = conn.execute(select(version_t.c.version).where(version_t.c.id == 1).with_for_update()).scalar()
    if found is None:
        conn.execute(insert(version_t).values(id=1, version=0))
        return 0
    return int(found)


MIGRATION_LOCK_KEY = 7_246_021  # PostgreSQL advisory lock held while migrating


def apply_migrations(engine: Engine, target: int | None = None) -> int:
    """Bring the schema up to `target` (default: the latest) in one write transaction; returns the version."""
    target = LATEST_VERSION if target is None else target
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # replicas starting together migrate one at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        current = schema_version(conn)
        for step in MIGRATIONS[current:target]:
            step(conn)
        if target > current:
            conn.execute(update(version_t).where(version_t.c.id == 1).values(version=target))
        return max(current, target)


# -- engine ----------------------------------------------------------------------------------------------------------
def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def open_engine(url: str, busy_timeout_s: float = 5.0) -> Engine:
    """A SQLAlchemy engine for the URL; SQLite files get WAL, synchronous=FULL and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise HistoryUnavailable(f"invalid history database URL {url!r} (setting SHOPQUERY_HISTORY_URL): {exc}") \
            from None
    kwargs: dict[str, Any] = {}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        database = parsed.database
        if not database or database == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True  # a server restart drops pooled connections: test them before use
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise HistoryUnavailable(f"cannot use history database {safe_url(url)}: {exc} "
                                 "(is the database driver installed?)") from None
    if sqlite:
        _configure_sqlite(engine, busy_timeout_s)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get("history_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def probe_sqlite_lock(engine: Engine, wait_s: float, busy_timeout_s: float) -> None:
    """Take and release the write lock of a SQLite database within `wait_s` (raises when it is held longer);
    the connection goes back to the pool with its usual busy timeout."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if raw is None:  # only a closed or invalidated connection has none
            raise HistoryUnavailable("the history database connection is closed")
        raw.execute(f"PRAGMA busy_timeout = {max(1, int(wait_s * 1000))}")
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
    with engine.connect() as conn:
        conn.execution_options(history_write=True)
        with conn.begin():
            yield conn
