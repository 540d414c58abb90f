"""The fast path: no LLM, one query in, a QueryAnalysis out, with the time each stage took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from assistant.types import QueryAnalysis, SearchFilters, StageTiming
from assistant.validation import clean_query
from tools.catalog_search import Mode, search_catalog
from tools.catalog_store import CatalogStore
from tools.text import normalize

T = TypeVar("T")


class Stopwatch:
    """Collects the wall time of named stages."""

    def __init__(self) -> None:
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as one stage."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append(StageTiming(stage=name, ms=round((time.perf_counter() - start) * 1000, 3)))

    def run(self, name: str, fn: Callable[[], T]) -> T:
        """Call fn as one timed stage and return its result."""
        with self.stage(name):
            return fn()


def analyze_query(store: CatalogStore, raw_query: str | bytes, *, max_chars: int, k: int = 10,
                  filters: SearchFilters | None = None, mode: Mode = "hybrid") -> QueryAnalysis:
    """Validate, normalise and search one query; raises InputError for unusable input."""
    watch = Stopwatch()
    query = watch.run("validate", lambda: clean_query(raw_query, max_chars))
    normalized = watch.run("normalize", lambda: normalize(query))
    filters = filters or SearchFilters()
    hits = watch.run("search", lambda: search_catalog(store, normalized, filters, k=k, mode=mode))
    analysis = QueryAnalysis(query=query, normalized_query=normalized, filters=filters, products=hits,
                             timings=watch.timings)
    if not hits:
        analysis.notes.append("no products matched")
    return analysis
