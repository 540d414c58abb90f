"""Recommendations: semantic search candidates re-ranked with the shopper's history (preferred brands and categories,
price band) and item-to-item co-occurrence learned from every shopper's events, each with grounded reasons.

Blended score (weights fixed here; eval/bench_recommend.py measures the result against plain search):
    score    = SEMANTIC_WEIGHT * semantic + PERSONAL_WEIGHT * personal
    semantic = 1 / (1 + (rank - 1) / RANK_SCALE)     rank of the candidate in the search order (1 = best)
    personal = 0.30 brand + 0.15 category + 0.10 price + 0.25 co-occurrence + 0.20 seen, each in [0, 1]
    (seen: the shopper viewed, clicked or carted the product recently and has not bought it)
With no history every personal part is 0 and the search order is kept; with history, the semantic part still
orders products the history says nothing about, and a weak search match cannot outrank a strong one on history
alone unless it is far more personal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.core.types import Product, SearchHit
from tools.history_profile import EVENT_WEIGHTS, UserProfile
from tools.reasons import COOC_REASON_MIN, explain
from tools.text import normalize

SEMANTIC_WEIGHT = 0.55
PERSONAL_WEIGHT = 0.45
RANK_SCALE = 10.0
PART_WEIGHTS = {"brand": 0.30, "category": 0.15, "price": 0.10, "cooc": 0.25, "seen": 0.20}

Lang = Literal["zh", "en"]


class ItemItemModel:
    """Item-item cosine similarity over a sparse users x items matrix of interaction weights (the strongest event
    of a user on an item: purchase 5, add_to_cart 3, click 2, view 1). Similarities are computed on demand from the
    normalised matrix, so building is one pass over the events and memory stays linear in them."""

    def __init__(self, matrix, item_ids: list[str], marker: int = 0):
        from scipy import sparse

        self.item_ids = item_ids
        self.col_of = {item: i for i, item in enumerate(item_ids)}
        self.marker = marker
        matrix = sparse.csc_matrix(matrix, dtype=np.float64)
        self.popularity = np.asarray(matrix.sum(axis=0)).ravel()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        self.normalized = sparse.csc_matrix(matrix @ sparse.diags(1.0 / np.maximum(norms, 1e-12)))
        self.n_users = matrix.shape[0]

    @classmethod
    def from_interactions(cls, interactions: Iterable[tuple[str, str, str]], marker: int = 0) -> ItemItemModel:
        """Build from (user_id, product_id, event type) triples; search events and unknown types are ignored."""
        from scipy import sparse

        strongest: dict[tuple[str, str], float] = {}
        for user, item, kind in interactions:
            weight = EVENT_WEIGHTS.get(getattr(kind, "value", kind), 0.0)
            if weight and item:
                key = (user, item)
                strongest[key] = max(strongest.get(key, 0.0), weight)
        users = {u: i for i, u in enumerate(dict.fromkeys(u for u, _ in strongest))}
        items = list(dict.fromkeys(i for _, i in strongest))
        cols = {item: i for i, item in enumerate(items)}
        rows = [users[u] for u, _ in strongest]
        matrix = sparse.coo_matrix((list(strongest.values()), (rows, [cols[i] for _, i in strongest])),
                                   shape=(len(users), len(items)))
        return cls(matrix, items, marker)

    @classmethod
    def from_history(cls, history) -> ItemItemModel:
        """Build from every interaction in a HistoryStore."""
        marker = history.last_event_id()
        return cls.from_interactions(history.iter_interactions(), marker)

    @property
    def n_items(self) -> int:
        """How many products have interactions."""
        return len(self.item_ids)

    def _columns(self, ids: Iterable[str]) -> list[int]:
        return [self.col_of[i] for i in dict.fromkeys(ids) if i in self.col_of]

    def similar(self, product_ids: list[str], k: int = 10) -> list[tuple[str, float]]:
        """Products most often engaged with together with these (summed cosine), best first; inputs excluded."""
        seeds = self._columns(product_ids)
        if not seeds:
            return []
        users = np.asarray(self.normalized[:, seeds].sum(axis=1)).ravel()
        scores = np.asarray(self.normalized.T @ users).ravel()
        scores[seeds] = 0.0
        best = np.argsort(-scores, kind="stable")[:k]
        return [(self.item_ids[i], round(float(scores[i]), 6)) for i in best if scores[i] > 0]

    def affinity(self, candidates: list[str], seeds: list[str]) -> dict[str, tuple[float, str]]:
        """For each candidate: (summed similarity to the seeds, the most similar seed); candidates without any
        co-occurrence are left out."""
        seed_cols = self._columns(seeds)
        cand = [c for c in dict.fromkeys(candidates) if c in self.col_of]
        if not seed_cols or not cand:
            return {}
        sims = (self.normalized[:, [self.col_of[c] for c in cand]].T @ self.normalized[:, seed_cols]).toarray()
        for row, c in enumerate(cand):  # an item is not its own evidence
            if self.col_of[c] in seed_cols:
                sims[row, seed_cols.index(self.col_of[c])] = 0.0
        found = {}
        for row, c in enumerate(cand):
            if sims[row].max() > 0:
                found[c] = (float(sims[row].sum()), self.item_ids[seed_cols[int(sims[row].argmax())]])
        return found

    def popularity_of(self, product_ids: list[str]) -> list[float]:
        """Summed interaction weight of each product (0 for unknown ones)."""
        return [float(self.popularity[self.col_of[i]]) if i in self.col_of else 0.0 for i in product_ids]


class ModelCache:
    """Hands out an ItemItemModel of a history store, rebuilt when new events arrived and the last build is older
    than `min_age_s` (so a busy store is not re-read on every request)."""

    def __init__(self, history, min_age_s: float = 30.0):
        self.history = history
        self.min_age_s = min_age_s
        self._model: ItemItemModel | None = None
        self._built = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> ItemItemModel:
        with self._lock:
            model = self._model
            stale = model is None or time.monotonic() - self._built >= self.min_age_s
            if model is None or (stale and self.history.last_event_id() != model.marker):
                model = self._model = ItemItemModel.from_history(self.history)
            if stale:
                self._built = time.monotonic()
            return model


class Recommendation(BaseModel):
    """A recommended product with its blended score, the parts of it, and reasons drawn from its own fields."""

    product: Product
    score: float
    semantic_score: float
    personal_score: float
    reasons: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list, description="ids of other products a reason names")


def _preference_scores(prefs) -> dict[str, tuple[float, bool, str]]:
    top = max((p.weight for p in prefs), default=0.0) or 1.0
    return {normalize(p.name): (p.weight / top, p.purchased, p.name) for p in prefs}


def price_fit(product: Product, profile: UserProfile) -> float:
    """1 inside the shopper's price band for the product's currency, falling linearly to 0 away from it."""
    band = profile.price_bands.get((product.currency or "").upper())
    if band is None or product.price is None:
        return 0.0
    if band.contains(product.price):
        return 1.0
    gap = band.low - product.price if product.price < band.low else product.price - band.high
    return max(0.0, 1.0 - gap / max(band.high - band.low + 0.5 * band.median, 1e-9))


def semantic_score(rank: int) -> float:
    """The search order as a score: 1 for the first candidate, 0.5 at rank 1 + RANK_SCALE."""
    return 1.0 / (1.0 + (rank - 1) / RANK_SCALE)


def recommend(candidates: list[SearchHit], profile: UserProfile | None, model: ItemItemModel | None, k: int = 10,
              lang: Lang = "en", lookup: Callable[[list[str]], list[Product]] | None = None) -> list[Recommendation]:
    """Re-rank search candidates for a shopper; `lookup` resolves ids named in co-occurrence reasons."""
    personal = profile if profile is not None and not profile.is_empty else None  # a profile with history
    brands = _preference_scores(personal.preferred_brands) if personal is not None else {}
    categories = _preference_scores(personal.preferred_categories) if personal is not None else {}
    cooc: dict[str, tuple[float, str]] = {}
    if personal is not None and model is not None and model.n_items:
        cooc = model.affinity([h.product.id for h in candidates], personal.recent_items)
    top_cooc = max((s for s, _ in cooc.values()), default=0.0) or 1.0
    seen = set(personal.recent_items) - set(personal.recently_purchased) if personal is not None else set()
    related = _related_products(cooc, candidates, lookup)
    scored = []
    for rank, hit in enumerate(candidates, start=1):
        p = hit.product
        parts = {
            "brand": brands.get(normalize(p.brand or ""), (0.0,))[0],
            "category": categories.get(normalize(p.category or ""), (0.0,))[0],
            "price": price_fit(p, personal) if personal is not None else 0.0,
            "cooc": cooc[p.id][0] / top_cooc if p.id in cooc else 0.0,
            "seen": 1.0 if p.id in seen else 0.0,
        }
        pers = sum(PART_WEIGHTS[n] * v for n, v in parts.items())
        sem = semantic_score(rank)
        partner = related.get(cooc[p.id][1]) if parts["cooc"] >= COOC_REASON_MIN else None
        reasons = explain(p, lang, rank, parts, brands.get(normalize(p.brand or "")), partner)
        scored.append(Recommendation(product=p, score=round(SEMANTIC_WEIGHT * sem + PERSONAL_WEIGHT * pers, 6),
                                     semantic_score=round(sem, 6), personal_score=round(pers, 6), reasons=reasons,
                                     related=[partner.id] if partner else []))
    scored.sort(key=lambda r: -r.score)
    return scored[:k]


def _related_products(cooc: dict[str, tuple[float, str]], candidates: list[SearchHit],
                      lookup: Callable[[list[str]], list[Product]] | None) -> dict[str, Product]:
    wanted = list(dict.fromkeys(seed for _, seed in cooc.values()))
    known = {h.product.id: h.product for h in candidates}
    found = {i: known[i] for i in wanted if i in known}
    missing = [i for i in wanted if i not in found]
    if missing and lookup is not None:
        found.update({p.id: p for p in lookup(missing)})
    return found


# -- LangChain tools ---------------------------------------------------------------------------------------------------
CANDIDATES = 50
USER_ID_CHARS = 128  # the longest user id the history and recommendation tools take


class RecommendInput(BaseModel):
    """Arguments of the recommend_products tool."""

    query: str = Field(min_length=1, max_length=512, description="what the shopper wants, in their words")
    user_id: str | None = Field(default=None, max_length=USER_ID_CHARS, description="the shopper, to personalise results")
    k: int = Field(default=5, ge=1, le=20, description="how many products to return")
    price_min: float | None = Field(default=None, ge=0, description="lowest price")
    price_max: float | None = Field(default=None, ge=0, description="highest price")
    brands: list[str] = Field(default_factory=list, description="only these brands")
    colors: list[str] = Field(default_factory=list, description="only these colours (lowercase English)")
    categories: list[str] = Field(default_factory=list, description="only these categories")


class UserHistoryInput(BaseModel):
    """Arguments of the lookup_user_history tool."""

    user_id: str = Field(min_length=1, max_length=USER_ID_CHARS, description="the shopper's id")


def recommendation_dict(rec: Recommendation) -> dict:
    """What a tool returns for one recommendation: the product's main fields, scores and reasons."""
    product = rec.product.model_dump(include={"id", "title", "brand", "category", "price", "currency", "color"},
                                     exclude_none=True)
    return {**product, "score": rec.score, "reasons": rec.reasons}


def make_recommend_tool(store, history, model_getter: Callable[[], ItemItemModel | None] | None = None):
    """The recommend_products LangChain tool: catalog search for candidates, re-ranked with the shopper's history.
    A program may pass the `candidates` to re-rank, the shopper's `profile` and the reasons' `lang` instead; the
    recommendations are the call's artifact."""
    from tools.catalog_search import search_catalog
    from tools.context_tool import ContextTool
    from tools.core.types import SearchFilters
    from tools.history import HistoryUnavailable
    from tools.text import has_cjk

    def run(query: str, user_id: str | None = None, k: int = 5, price_min: float | None = None,
            price_max: float | None = None, brands: list[str] | None = None, colors: list[str] | None = None,
            categories: list[str] | None = None, candidates: list[SearchHit] | None = None,
            profile: UserProfile | None = None, lang: Lang | None = None) -> tuple[dict, list[Recommendation]]:
        if candidates is None:
            filters = SearchFilters(price_min=price_min, price_max=price_max, brands=brands or [],
                                    colors=colors or [], categories=categories or [])
            candidates = search_catalog(store, query, filters, k=max(CANDIDATES, k))
        model, notes = None, []
        if profile is not None:
            model = model_getter() if model_getter else None
        elif user_id and history is not None:
            try:
                profile = history.profile(user_id, store.products_by_id)
                model = model_getter() if model_getter else None
            except HistoryUnavailable as exc:
                notes.append(f"not personalised: {exc}")
        recs = recommend(candidates, profile, model, k=k, lang=lang or ("zh" if has_cjk(query) else "en"),
                         lookup=store.products_by_id)
        return {"personalised": bool(profile and not profile.is_empty), "notes": notes,
                "products": [recommendation_dict(r) for r in recs]}, recs

    return ContextTool.from_function(
        func=run, name="recommend_products", args_schema=RecommendInput, response_format="content_and_artifact",
        context_args=frozenset({"candidates", "profile", "lang"}),
        description="Recommend products for a shopper: searches the catalog (Chinese or English, optional price, "
                    "brand, colour and category filters) and, given a user_id, ranks by their history. Each product "
                    "comes with short reasons drawn from its own fields.",
    )


def make_history_tool(history, store):
    """The lookup_user_history LangChain tool: a shopper's profile (recent queries, brands, categories, prices)."""
    from langchain_core.tools import StructuredTool, ToolException

    from tools.history import HistoryUnavailable

    def run(user_id: str) -> tuple[dict, UserProfile]:
        try:
            profile = history.profile(user_id, store.products_by_id)
        except HistoryUnavailable as exc:
            raise ToolException(str(exc)) from exc
        return profile.model_dump(), profile

    return StructuredTool.from_function(
        func=run, name="lookup_user_history", args_schema=UserHistoryInput, handle_tool_error=True,
        response_format="content_and_artifact",
        description="Look up what a shopper searched for and bought: recent queries, preferred brands and "
                    "categories with weights, usual price range per currency, recently viewed and bought product "
                    "ids. An unknown user has an empty profile.",
    )
