"""The fast path: no LLM, one query in, a QueryAnalysis out, with the time each stage took."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from assistant.validation import clean_query
from tools.catalog_search import Mode, category_mask, search_catalog
from tools.catalog_store import CatalogStore
from tools.core.types import QueryAnalysis, Rewrite, SearchFilters, SearchHit, StageTiming
from tools.product_kind import default_lexicon
from tools.ranking import RankingOptions
from tools.ranking_features import Evidence
from tools.understand import Understanding, understand

if TYPE_CHECKING:
    from tools.attributes import AttributeParser, ParsedAttributes
    from tools.intent import IntentClassifier
    from tools.spelling import Corrector

T = TypeVar("T")
# the fast path's timing name of each stage of understanding
STAGE_NAMES = {"classify_intent": "intent", "correct_spelling": "spelling", "parse_attributes": "attributes"}
# When the parsed filters match nothing, drop them in this order until something matches: the kind of product
# the shopper named is kept longest, the price band goes first.
RELAX_ORDER: tuple[tuple[str, dict[str, Any]], ...] = (
    ("price", {"price_min": None, "price_max": None}),
    ("color", {"colors": []}),
    ("brand", {"brands": []}),
    ("category", {"categories": []}),
)
# the shopper restricts brand or colour to what they name only when they say so
ONLY = re.compile(r"\bonly\b|\bjust\b|只要|只看|仅限|只买")
# spans of a query that state constraints (filters) rather than describe the product
CONSTRAINT_SLOTS = ("price_min", "price_max", "currency", "exclude_colors", "exclude_brands")


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

    def run_stage(self, name: str, args: dict[str, Any], fn: Callable[[], T]) -> T:
        """A stage of understanding (named as its tool) timed under the fast path's stage name."""
        return self.run(STAGE_NAMES.get(name, name), fn)


def search_with_relaxation(store: CatalogStore, text: str, filters: SearchFilters, k: int, mode: Mode,
                           boost: list[str] | None = None, ranking: RankingOptions | None = None,
                           evidence: Evidence | None = None) -> tuple[list[SearchHit], SearchFilters, list[str]]:
    """Search under the filters; if nothing matches (or nothing of the category the shopper named, when the
    catalog has that category), drop one kind of filter (in RELAX_ORDER), then more, and say which were dropped."""
    run = partial(search_catalog, store, text, k=k, mode=mode, boost_categories=boost, ranking=ranking,
                  evidence=evidence)
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


def without_constraints(text: str, parsed: ParsedAttributes) -> str:
    """The query text without the spans that state constraints (price, currency, negated brands and colours)."""
    for slot in CONSTRAINT_SLOTS:
        for span in parsed.spans.get(slot, []):
            text = text.replace(span, " ")
    return " ".join(text.split())


def plan_search(understood: Understanding, filters: SearchFilters | None, evidence: bool,
                kinds: bool) -> tuple[str, SearchFilters, list[str], Evidence]:
    """Text, hard filters, categories to boost and soft evidence for one understood query. With `evidence`, brand
    and colour raise matching products and stay in the searched text; only stated constraints (price, negations,
    only/只要) filter. Without it, every parsed attribute filters and the rest of the text is searched. With
    `kinds`, the kind of product and the category read rank matching products first."""
    parsed, normalized, kind = understood.attributes, understood.normalized, understood.kind
    if parsed is None:
        return normalized, filters or SearchFilters(), [], Evidence(kind=kind)
    if filters is not None:
        text = without_constraints(normalized, parsed) if evidence else parsed.rest.strip()
        return text or normalized, filters, [], Evidence(kind=kind)
    hard, categories = parsed.search_filters()
    boost = categories if kinds else []
    if not evidence:
        return parsed.rest.strip() or normalized, hard, boost, Evidence(kind=kind)
    soft = Evidence(kind=kind, brands=hard.brands, colors=hard.colors)
    if not ONLY.search(normalized):
        hard = hard.model_copy(update={"brands": [], "colors": []})
    return without_constraints(normalized, parsed) or normalized, hard, boost, soft


def analyze_query(store: CatalogStore, raw_query: str | bytes, *, max_chars: int, k: int = 10,
                  filters: SearchFilters | None = None, mode: Mode = "hybrid",
                  parser: AttributeParser | None = None, corrector: Corrector | None = None,
                  intent: IntentClassifier | None = None, expander: Expander | None = None,
                  ranking: RankingOptions | None = None, evidence: bool = False,
                  kinds: bool = True) -> QueryAnalysis:
    """Validate, correct, classify, normalise, parse attributes and search one query (with its verified
    rewrites, fused, when an expander is given); raises InputError for unusable input. With `evidence`, parsed
    brand and colour rank matching products first instead of filtering; `ranking` orders hybrid search by the
    ranking model, with the query's product kind (when `kinds`) as evidence."""
    watch = Stopwatch()
    query = watch.run("validate", lambda: clean_query(raw_query, max_chars))
    understood = understand(query, intent=intent, corrector=corrector, parser=parser,
                            kinds=default_lexicon() if kinds else None, run=watch.run_stage)
    searched = understood.corrected
    text, filters, boost, soft = plan_search(understood, filters, evidence, kinds)
    hits, used, relaxed = watch.run("search", lambda: search_with_relaxation(store, text, filters, k, mode, boost,
                                                                             ranking, soft))
    expansions: list[Rewrite] = []
    if expander is not None and hits and mode == "hybrid":
        hits, expansions = watch.run("expand", lambda: expander.search_expanded(text, hits, used, boost, k))
    analysis = QueryAnalysis(**understood.analysis_fields(), filters=used, products=hits, timings=watch.timings,
                             relaxed=relaxed, expansions=expansions)
    if searched != query:
        analysis.notes.append(f"showing results for '{searched}'; search instead for '{query}'")
    if relaxed:
        analysis.notes.append(f"no products matched every filter; relaxed: {', '.join(relaxed)}")
    if not hits:
        analysis.notes.append("no products matched")
    return analysis
