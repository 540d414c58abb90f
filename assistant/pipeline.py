"""The fast path: no LLM, one query in, a QueryAnalysis out, with the time each stage took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from assistant.types import QueryAnalysis, Rewrite, SearchFilters, SearchHit, StageTiming
from assistant.validation import clean_query
from tools.catalog_search import Mode, category_mask, search_catalog
from tools.catalog_store import CatalogStore
from tools.text import normalize

if TYPE_CHECKING:
    from tools.attributes import AttributeParser
    from tools.intent import IntentClassifier
    from tools.spelling import Corrector

T = TypeVar("T")
# When the parsed filters match nothing, drop them in this order until something matches: the kind of product
# the shopper named is kept longest, the price band goes first.
RELAX_ORDER = (
    ("price", {"price_min": None, "price_max": None}),
    ("color", {"colors": []}),
    ("brand", {"brands": []}),
    ("category", {"categories": []}),
)


class Expander(Protocol):
    """What the fast path needs from query expansion (tools/expansion.py: QueryExpander)."""

    def search_expanded(self, text: str, hits: list[SearchHit], filters: SearchFilters | None = None,
                        boost: list[str] | None = None,
                        k: int = 10) -> tuple[list[SearchHit], list[Rewrite]]: ...


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


def search_with_relaxation(store: CatalogStore, text: str, filters: SearchFilters, k: int, mode: Mode,
                           boost: list[str] | None = None) -> tuple[list[SearchHit], SearchFilters, list[str]]:
    """Search under the filters; if nothing matches (or nothing of the category the shopper named, when the
    catalog has that category), drop one kind of filter (in RELAX_ORDER), then more, and say which were dropped."""
    run = partial(search_catalog, store, text, k=k, mode=mode, boost_categories=boost)
    wanted = category_mask(store.index, boost) if boost else None
    if wanted is not None and not wanted.any():
        wanted = None

    def good(hits: list[SearchHit]) -> bool:
        row_of = store.index.row_of
        return bool(hits) and (wanted is None or any(wanted[row_of[h.product.id]] for h in hits))

    hits = run(filters)
    if good(hits):
        return hits, filters, []
    present = [(name, reset) for name, reset in RELAX_ORDER
               if any(getattr(filters, key) not in (None, []) for key in reset)]
    for name, reset in present if len(present) > 1 else []:
        single = filters.model_copy(update=reset)
        found = run(single)
        if good(found):
            return found, single, [name]
    relaxed: list[str] = []
    current = filters
    for name, reset in present:
        current = current.model_copy(update=reset)
        relaxed.append(name)
        found = run(current)
        if good(found):
            return found, current, relaxed
    return hits, filters, []


def analyze_query(store: CatalogStore, raw_query: str | bytes, *, max_chars: int, k: int = 10,
                  filters: SearchFilters | None = None, mode: Mode = "hybrid",
                  parser: AttributeParser | None = None, corrector: Corrector | None = None,
                  intent: IntentClassifier | None = None, expander: Expander | None = None) -> QueryAnalysis:
    """Validate, correct, classify, normalise, parse attributes and search one query (with its verified
    rewrites, fused, when an expander is given); raises InputError for unusable input."""
    watch = Stopwatch()
    query = watch.run("validate", lambda: clean_query(raw_query, max_chars))
    predicted = watch.run("intent", lambda: intent.predict(query)) if intent is not None else None
    fixed = watch.run("spelling", lambda: corrector.correct(query)) if corrector is not None else None
    searched = fixed.corrected if fixed is not None and fixed.changed else query
    normalized = watch.run("normalize", lambda: normalize(searched))
    parsed = watch.run("attributes", lambda: parser.parse(normalized)) if parser is not None else None
    boost: list[str] = []
    if filters is None and parsed is not None:
        parsed_filters = parsed.to_filters()
        # the category the parser read ranks its products first but excludes nothing: catalogs file the same
        # thing under many names (防晒霜/防晒乳), and a wrong head noun ("printer paper" -> Printer) must not empty
        # the results; stated constraints (price, colour, brand, negations) are hard filters
        boost = parsed_filters.categories
        filters = parsed_filters.model_copy(update={"currency": parsed.currency, "categories": []})
    filters = filters or SearchFilters()
    text = (parsed.rest.strip() if parsed is not None else "") or normalized
    hits, used, relaxed = watch.run("search", lambda: search_with_relaxation(store, text, filters, k, mode, boost))
    expansions: list[Rewrite] = []
    if expander is not None and hits and mode == "hybrid":
        hits, expansions = watch.run("expand", lambda: expander.search_expanded(text, hits, used, boost, k))
    analysis = QueryAnalysis(query=query, normalized_query=normalized, filters=used, products=hits,
                             corrected_query=searched if searched != query else None,
                             correction=fixed.model_dump() if fixed is not None else None,
                             intent=predicted.model_dump() if predicted is not None else None,
                             timings=watch.timings, relaxed=relaxed, expansions=expansions,
                             attributes=parsed.model_dump(exclude={"spans"}) if parsed is not None else None)
    if searched != query:
        analysis.notes.append(f"showing results for '{searched}'; search instead for '{query}'")
    if relaxed:
        analysis.notes.append(f"no products matched every filter; relaxed: {', '.join(relaxed)}")
    if not hits:
        analysis.notes.append("no products matched")
    return analysis
