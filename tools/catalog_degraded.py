"""Degraded mode of the catalog store: telling a broken chromadb file at a glance, answering nearest-neighbour
queries from the on-disk index while chromadb is unavailable, and guarding calls into chromadb so a failure
switches the store to that mode instead of failing the request."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tools.core.errors import CatalogError

SQLITE_FILE = "chroma.sqlite3"
log = logging.getLogger("shopquery.catalog")


class DegradableStore(Protocol):
    """What the guard needs from the store."""

    @property
    def index(self) -> Any: ...

    def _degrade(self, reason: str) -> None: ...


def file_problem(path: Path) -> str | None:
    """What is wrong with a SQLite file at a glance (missing, truncated, not SQLite), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(100)
    except FileNotFoundError:
        return f"file missing: {path}"
    except OSError as exc:
        return f"file unreadable: {path}: {exc}"
    if not header.startswith(b"SQLite format 3\x00") or len(header) < 100:
        return f"file corrupt (not a SQLite database): {path}"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or size < page or size % page:
        return f"file corrupt (truncated to {size} bytes): {path}"
    return None


def forget_failed_system(path: Path) -> None:
    """Drop chromadb's cached system for a store path whose client failed to open: chromadb keeps it (half
    started) and would hand it to the next client of that path, so a restored store could never be reopened."""
    from chromadb.api.shared_system_client import SharedSystemClient

    cache = getattr(SharedSystemClient, "_identifier_to_system", None)
    if isinstance(cache, dict) and not getattr(SharedSystemClient, "_identifier_to_refcount", {}).get(str(path)):
        system = cache.pop(str(path), None)
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()


def indexed_count(index_path: Path) -> int:
    """How many products the on-disk index says it holds (0 when it is missing or unreadable)."""
    try:
        return int(json.loads((index_path / "manifest.json").read_text()).get("count", 0))
    except (OSError, ValueError, AttributeError):
        return 0


class IndexVectors:
    """Read-only stand-in for the chromadb collection in degraded mode: nearest neighbours by exact cosine
    similarity over the on-disk index's vectors; counting works, writing raises CatalogError."""

    def __init__(self, index: Any):
        self.index = index

    def query(self, query_embeddings: list[list[float]], n_results: int = 10, **_: Any) -> dict[str, Any]:
        """The ids of the nearest products to each query vector (chromadb's result shape)."""
        out: list[list[str]] = []
        for vector in query_embeddings:
            if not len(self.index.products):
                out.append([])
                continue
            sims = self.index.vectors @ np.asarray(vector, dtype=np.float32)
            order = np.argsort(-sims, kind="stable")[:n_results]
            out.append([self.index.products[int(i)].id for i in order])
        return {"ids": out}

    def count(self) -> int:
        """How many products the index holds."""
        return len(self.index.products)

    def __getattr__(self, name: str) -> Any:
        raise CatalogError(f"the vector store is unavailable, so {name!r} cannot run; restore the store or "
                           "ingest the catalog again")


class GuardedCollection:
    """The chromadb collection, with any failure switching the store to degraded mode: a failed query is
    answered from the on-disk index, any other failed call raises CatalogError."""

    def __init__(self, store: DegradableStore, collection: Any):
        self._store = store
        self._collection = collection

    def query(self, **kwargs: Any) -> dict[str, Any]:
        """chromadb's query, or the on-disk index's answer when chromadb fails."""
        try:
            return self._collection.query(**kwargs)
        except Exception as exc:  # noqa: BLE001 - chromadb raises many types for a broken store
            self._store._degrade(f"{type(exc).__name__}: {exc}")
            return IndexVectors(self._store.index).query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                self._store._degrade(f"{type(exc).__name__}: {exc}")
                raise CatalogError(f"the vector store failed: {exc}") from exc

        return guarded


class DegradedMode:
    """Degraded-mode bookkeeping of the catalog store (mixed into CatalogStore, which provides `directory`,
    `chroma_url`, `retry_s`, `vector_error`, `_client`, `_collection`, `_lock`, `_next_check`, `index`, `count`
    and `_chroma`)."""

    directory: Path
    chroma_url: str | None
    retry_s: float
    vector_error: str | None
    _client: Any
    _collection: Any
    _lock: Any
    _next_check: float
    _index: Any
    index: Any

    if TYPE_CHECKING:  # provided by CatalogStore

        def _chroma(self, create: bool = False) -> Any: ...

        def count(self) -> int: ...

    def _can_degrade(self) -> bool:
        try:
            return bool(self.index.products)
        except (CatalogError, OSError, ValueError, KeyError):
            return False

    def _degrade(self, reason: str) -> None:
        """Stop using chromadb (closing the client so a later retry opens the files afresh)."""
        with self._lock:
            if self.vector_error is None:
                log.warning("catalog degraded: vector store unavailable: %s", reason)
            self.vector_error = reason
            self._collection = None
            client, self._client = self._client, None
            self._next_check = time.monotonic() + self.retry_s
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _check_health(self) -> None:
        """At most once a second: notice deleted or corrupt store files; in degraded mode, every `retry_s`
        seconds, try chromadb again."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + (1.0 if self.vector_error is None else self.retry_s)
        if self.vector_error is None:
            problem = None if self.chroma_url else file_problem(self.directory / "chroma" / SQLITE_FILE)
            if problem and self._collection is not None:
                self._degrade(problem)
            return
        self._recover()

    def _recover(self) -> None:
        with self._lock:
            self.vector_error, previous = None, self.vector_error
            try:
                stored = int(self._chroma().count())
                if stored == 0 and self._can_degrade():
                    raise CatalogError("the vector store is empty but the on-disk index holds the catalog: "
                                       "restore it or run `shopquery ingest FILE` again")
            except CatalogError as exc:
                self._degrade(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - chromadb raises many types for a broken store
                self._degrade(f"{type(exc).__name__}: {exc}")
                return
            log.warning("catalog recovered: the vector store is back (%s)", previous)
            if self._index is not None and len(self._index.products) != stored:
                self._index = None  # re-ingested elsewhere: load (or rebuild) the matching index

    def status(self) -> dict[str, Any]:
        """{"status": "ok"|"degraded"|"unavailable", "reason", "products"} for readiness probes."""
        if self.vector_error is None:
            self._next_check = 0.0  # the file check is cheap; retries of a broken store keep their pace
        try:
            self._check_health()
            products = self.count()
        except CatalogError as exc:
            return {"status": "unavailable", "reason": str(exc), "products": 0}
        if self.vector_error is not None:
            where = f"Chroma server {self.chroma_url}" if self.chroma_url else "vector store"
            reason = f"{where} unavailable: {self.vector_error}; serving from the on-disk index"
            return {"status": "degraded", "reason": reason, "products": products}
        return {"status": "ok", "reason": None, "products": products}
