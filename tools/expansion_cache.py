"""The verified-rewrite cache: SQLite under DATA_DIR, one row per (normalised query, catalog fingerprint), holding
every verified candidate with its metrics and whether the LLM has been asked; a small in-memory map in front."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tools.core.errors import CatalogError
from tools.core.types import Rewrite

MEMORY_ENTRIES = 4096
_SCHEMA = """CREATE TABLE IF NOT EXISTS rewrites (
    key TEXT PRIMARY KEY, query TEXT NOT NULL, fingerprint TEXT NOT NULL, llm INTEGER NOT NULL,
    payload TEXT NOT NULL, updated REAL NOT NULL)"""


@dataclass
class CacheEntry:
    """The verified candidates of one query for one catalog."""

    rewrites: list[Rewrite]
    llm: bool


def cache_key(query: str, fingerprint: str) -> str:
    """The row key of a query under a catalog fingerprint."""
    return hashlib.sha256(f"{fingerprint}\n{query}".encode()).hexdigest()[:32]


class ExpansionCache:
    """Verified rewrites by query and catalog fingerprint (SQLite file; `path=None` keeps them in memory only)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, CacheEntry] = {}
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                self._ready = True
            return conn
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"cannot open the expansion cache at {self.path}: {exc}") from exc

    def get(self, query: str, fingerprint: str) -> CacheEntry | None:
        """The cached entry, or None."""
        key = cache_key(query, fingerprint)
        entry = self._memory.get(key)
        if entry is not None or self.path is None:
            return entry
        with self._lock:
            conn = self._connect()
            try:
                row = conn.execute("SELECT llm, payload FROM rewrites WHERE key = ?", (key,)).fetchone()
            finally:
                conn.close()
        if row is None:
            return None
        entry = CacheEntry([Rewrite.model_validate(r) for r in json.loads(row[1])], bool(row[0]))
        self._remember(key, entry)
        return entry

    def put(self, query: str, fingerprint: str, rewrites: list[Rewrite], llm: bool) -> None:
        """Store (replace) the verified candidates of a query."""
        key = cache_key(query, fingerprint)
        entry = CacheEntry([r.model_copy() for r in rewrites], llm)
        self._remember(key, entry)
        if self.path is None:
            return
        payload = json.dumps([r.model_dump() for r in rewrites], ensure_ascii=False)
        with self._lock:
            conn = self._connect()
            try:
                with conn:
                    conn.execute("INSERT OR REPLACE INTO rewrites VALUES (?, ?, ?, ?, ?, ?)",
                                 (key, query, fingerprint, int(llm), payload, time.time()))
            finally:
                conn.close()

    def _remember(self, key: str, entry: CacheEntry) -> None:
        if len(self._memory) >= MEMORY_ENTRIES:
            self._memory.pop(next(iter(self._memory)))
        self._memory[key] = entry

    def clear_memory(self) -> None:
        """Forget the in-memory copies (the file stays)."""
        self._memory.clear()
