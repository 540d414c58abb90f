"""Hybrid catalog search: BM25 and dense vectors, fused by reciprocal rank, filtered by price, brand, category and
colour. Exposed as a typed function and a LangChain tool."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.catalog_store import CatalogStore, LexicalIndex
from tools.colors import canonical_color
from tools.core.types import SearchFilters, SearchHit
from tools.ranking import RankingOptions, rank_candidates
from tools.ranking_features import Evidence
from tools.text import index_tokens, normalize, stem_en

Mode = Literal["hybrid", "bm25", "dense"]
RRF_K = 60
CATEGORY_CACHE = 256
DEPTH = 100


def filter_mask(index: LexicalIndex, filters: SearchFilters) -> np.ndarray | None:
    """Boolean mask of the products that satisfy the filters, or None when there are none."""
    if filters.is_empty():
        return None
    mask = np.ones(len(index.products), dtype=bool)
    priced = filters.price_min is not None or filters.price_max is not None
    with np.errstate(invalid="ignore"):
        if filters.price_min is not None:
            mask &= index.price >= filters.price_min
        if filters.price_max is not None:
            mask &= index.price <= filters.price_max
    if priced and filters.currency:
        # a bound in yuan says nothing about a price in dollars: compare like with like (unpriced currency = any)
        mask &= (index.currency == filters.currency.upper()) | (index.currency == "")
    if filters.brands:
        mask &= np.isin(index.brand, [normalize(b) for b in filters.brands])
    if filters.exclude_brands:
        mask &= ~np.isin(index.brand, [normalize(b) for b in filters.exclude_brands])
    if filters.colors:
        mask &= np.isin(index.color, [canonical_color(c) for c in filters.colors])
    if filters.exclude_colors:
        mask &= ~np.isin(index.color, [canonical_color(c) for c in filters.exclude_colors])
    if filters.categories:
        mask &= category_mask(index, filters.categories)
    return mask


def _titles_naming(index: LexicalIndex, terms: frozenset[str]) -> np.ndarray:
    """Products whose title names one of the terms: catalogs file the same thing under many category names."""
    found = np.zeros(len(index.products), dtype=bool)
    for term in terms:
        found |= np.char.find(index.title, term) >= 0
    return found


def _matching_categories(index: LexicalIndex, wanted: list[str]) -> list[str]:
    """Stored category names that contain a wanted term (singular/plural folded)."""
    terms = {stem_en(normalize(w)) for w in wanted if w.strip()}
    found = []
    for category in index.category_names:
        folded = " ".join(stem_en(w) for w in category.split())
        if any(t and (t in folded or t in category) for t in terms):
            found.append(category)
    return found


def _top(scores: np.ndarray, depth: int) -> list[int]:
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > depth:
        part = np.argpartition(-scores[candidates], depth - 1)[:depth]
        candidates = candidates[part]
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]


def bm25_rows(index: LexicalIndex, query: str, mask: np.ndarray | None, depth: int = DEPTH) -> list[int]:
    """Row numbers of the best BM25 matches (rows outside the mask excluded)."""
    if index.retriever is None:
        return []
    ids = index.retriever.get_tokens_ids(index_tokens(query))
    if not ids:
        return []
    scores = np.asarray(index.retriever.get_scores(ids), dtype=np.float64)
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    return _top(scores, depth)


def dense_rows(store: CatalogStore, query: str, mask: np.ndarray | None, depth: int = DEPTH) -> list[int]:
    """Row numbers of the nearest products by embedding: the vector store's index unfiltered, exact within a mask."""
    index = store.index
    if not index.products:
        return []
    vector = store.query_vector(query)
    if mask is None:
        got = store.collection.query(query_embeddings=[vector.tolist()], n_results=min(depth, len(index.products)),
                                     include=[])
        return [index.row_of[i] for i in got["ids"][0] if i in index.row_of]
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return []
    sims = index.vectors[rows] @ vector
    order = np.argsort(-sims, kind="stable")[:depth]
    return [int(rows[i]) for i in order]


def fuse(rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks starting at 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def category_mask(index: LexicalIndex, categories: list[str]) -> np.ndarray:
    """Products filed under one of the categories or whose title names one (cached per set of terms: one query
    asks for the same mask several times while filters relax)."""
    terms = frozenset(normalize(t) for t in categories if t.strip())
    mask = index.category_cache.get(terms)
    if mask is None:
        mask = np.isin(index.category, _matching_categories(index, sorted(terms))) | _titles_naming(index, terms)
        if len(index.category_cache) >= CATEGORY_CACHE:
            index.category_cache.pop(next(iter(index.category_cache)))
        index.category_cache[terms] = mask
    return mask


def ranked_search(store: CatalogStore, query: str, mask: np.ndarray | None, k: int, ranking: RankingOptions,
                  evidence: Evidence | None) -> list[SearchHit]:
    """Hybrid search ordered by the ranking model (score fusion, kind and attribute evidence, learned ranker)."""
    index = store.index
    ranked = rank_candidates(store, query, mask, evidence or Evidence(), ranking.model, ranking.learned, k)
    return [SearchHit(product=index.products[r.row], score=round(r.score, 6), bm25_rank=r.bm25_rank,
                      dense_rank=r.dense_rank, kind=index.kind[r.row] or None, features=r.features)
            for r in ranked]


def search_catalog(store: CatalogStore, query: str, filters: SearchFilters | None = None, k: int = 10,
                   mode: Mode = "hybrid", boost_categories: list[str] | None = None,
                   ranking: RankingOptions | None = None, evidence: Evidence | None = None) -> list[SearchHit]:
    """Search the catalog for a query under optional filters. Hybrid search with `ranking` orders candidates by
    the ranking model with the query's `evidence`; without it, by reciprocal rank fusion where products of
    `boost_categories` rank higher (a third list) without excluding the rest. Returns the top `k`, best first."""
    filters = filters or SearchFilters()
    index = store.index
    mask = filter_mask(index, filters)
    if mode == "hybrid" and ranking is not None:
        return ranked_search(store, query, mask, k, ranking, evidence)
    depth = max(DEPTH, k)
    lexical = bm25_rows(index, query, mask, depth) if mode in ("hybrid", "bm25") else []
    dense = dense_rows(store, query, mask, depth) if mode in ("hybrid", "dense") else []
    lex_rank = {row: r for r, row in enumerate(lexical, start=1)}
    dense_rank = {row: r for r, row in enumerate(dense, start=1)}
    rankings = [lexical, dense]
    if boost_categories and index.products:
        wanted = category_mask(index, boost_categories)
        rankings.append([row for row, _ in fuse(rankings) if wanted[row]])
    fused = fuse(rankings)[:k]
    return [
        SearchHit(product=index.products[row], score=round(score, 6), bm25_rank=lex_rank.get(row),
                  dense_rank=dense_rank.get(row), kind=index.kind[row] or None)
        for row, score in fused
    ]


class SearchCatalogInput(BaseModel):
    """Arguments of the search_catalog tool."""

    query: str = Field(description="what the shopper is looking for, in their words")
    price_min: float | None = Field(default=None, ge=0, description="lowest price")
    price_max: float | None = Field(default=None, ge=0, description="highest price")
    brands: list[str] = Field(default_factory=list, description="only these brands")
    categories: list[str] = Field(default_factory=list, description="only these categories")
    colors: list[str] = Field(default_factory=list, description="only these colours (lowercase English)")
    k: int = Field(default=5, ge=1, le=50, description="how many products to return")


def make_search_tool(store: CatalogStore, ranking: RankingOptions | None = None):
    """The search_catalog LangChain tool bound to a store (schema derived from SearchCatalogInput). A program
    may also pass `filters` (every constraint, exclusions included), `depth` (instead of k) and
    `boost_categories`; the hits are the call's artifact. With `ranking`, candidates are ordered as the fast path
    orders them (the ranking model, with the query's kind of product and the filters' brands and colours as
    evidence); without it, by reciprocal rank fusion."""
    from tools.context_tool import ContextTool
    from tools.product_kind import default_lexicon

    def run(query: str, price_min: float | None = None, price_max: float | None = None,
            brands: list[str] | None = None, categories: list[str] | None = None,
            colors: list[str] | None = None, k: int = 5, filters: SearchFilters | None = None,
            depth: int | None = None, boost_categories: list[str] | None = None) -> tuple[list[dict], list[SearchHit]]:
        if filters is None:
            filters = SearchFilters(price_min=price_min, price_max=price_max, brands=brands or [],
                                    categories=categories or [], colors=colors or [])
        evidence = None
        if ranking is not None:
            kind = default_lexicon().kind_of(query) if ranking.kinds else None
            evidence = Evidence(kind=kind, brands=list(filters.brands), colors=list(filters.colors))
        hits = search_catalog(store, query, filters, k=k if depth is None else depth,
                              boost_categories=boost_categories, ranking=ranking, evidence=evidence)
        return [hit.product.model_dump(exclude_none=True) for hit in hits], hits

    return ContextTool.from_function(
        func=run, name="search_catalog", args_schema=SearchCatalogInput, response_format="content_and_artifact",
        context_args=frozenset({"filters", "depth", "boost_categories"}),
        description="Search the product catalog (Chinese or English) with optional price, brand, category and "
                    "colour filters.",
    )
