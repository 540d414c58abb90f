"""Verification of rewrites by retrieval, as Taobao's BEQUE scores them: search each rewrite under the query's
filters and compare its results with the original query's.

* **relevance** (0-1): of the rewrite's top RELEVANCE_DEPTH results, the share that look like the original's top
  results - half for embedding similarity to the original query at least that of the FLOOR_RANK-th most similar
  of the original's own results, half for a category found among the original's top INTENT_DEPTH results.
* **increment** (0-1): of the rewrite's top INCREMENT_DEPTH results, the share that are new (not in the original's
  top `base` results, INCREMENT_BASE by default) and pass both of those tests.
* **hits**: how many products the rewrite matches by words (BM25); a rewrite that matches none retrieves only the
  nearest vectors, which any text does.

The batch search mirrors `tools.catalog_search.search_catalog` (BM25 and dense fused by reciprocal rank, filters,
category boost) but embeds every text in one call and asks chromadb once for all of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.catalog_search import DEPTH, bm25_rows, category_mask, filter_mask, fuse
from tools.catalog_store import CatalogStore, LexicalIndex
from tools.core.types import SearchFilters

INTENT_DEPTH = 10
FLOOR_RANK = 30
RELEVANCE_DEPTH = 10
INCREMENT_DEPTH = 20
INCREMENT_BASE = 20


@dataclass
class Ranked:
    """One text's search result: fused rows best first, and how many rows BM25 matched."""

    rows: list[int]
    lexical_hits: int


def dense_rows_many(store: CatalogStore, vectors: np.ndarray, mask: np.ndarray | None,
                    depth: int = DEPTH) -> list[list[int]]:
    """Nearest rows for several query vectors: one chromadb query unfiltered, exact scores within a mask."""
    index = store.index
    if not index.products or len(vectors) == 0:
        return [[] for _ in range(len(vectors))]
    if mask is None:
        got = store.collection.query(query_embeddings=[v.tolist() for v in vectors],
                                     n_results=min(depth, len(index.products)), include=[])
        return [[index.row_of[i] for i in ids if i in index.row_of] for ids in got["ids"]]
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return [[] for _ in range(len(vectors))]
    sims = np.asarray(vectors, dtype=np.float32) @ index.vectors[rows].T
    return [[int(rows[i]) for i in np.argsort(-s, kind="stable")[:depth]] for s in sims]


def search_many(store: CatalogStore, texts: list[str], vectors: np.ndarray, filters: SearchFilters | None = None,
                boost: list[str] | None = None, depth: int = DEPTH) -> list[Ranked]:
    """Hybrid search of several texts (vectors given, one per text) under the same filters and boost."""
    index = store.index
    filters = filters or SearchFilters()
    mask = filter_mask(index, filters)
    dense = dense_rows_many(store, vectors, mask, depth)
    wanted = category_mask(index, boost) if boost and index.products else None
    out = []
    for text, dense_list in zip(texts, dense, strict=True):
        lexical = bm25_rows(index, text, mask, depth)
        rankings = [lexical, dense_list]
        if wanted is not None:
            rankings.append([row for row, _ in fuse(rankings) if wanted[row]])
        out.append(Ranked(rows=[row for row, _ in fuse(rankings)[:depth]], lexical_hits=len(lexical)))
    return out


@dataclass
class Intent:
    """What the original query's results look like: a similarity floor and a set of categories."""

    vector: np.ndarray
    floor: float
    categories: frozenset[str]
    original: frozenset[int]


def intent_of(index: LexicalIndex, vector: np.ndarray, original_rows: list[int],
              base: int = INCREMENT_BASE) -> Intent:
    """The intent of a query from its own top results (its top `base` rows count as already found)."""
    top = original_rows[:INTENT_DEPTH]
    sims = np.sort(index.vectors[original_rows] @ vector)[::-1] if original_rows else np.zeros(0)
    floor = float(sims[min(FLOOR_RANK, sims.size) - 1]) if sims.size else 1.0
    categories = frozenset(str(index.category[r]) for r in top if index.category[r])
    return Intent(vector=vector, floor=floor, categories=categories, original=frozenset(original_rows[:base]))


def on_intent(index: LexicalIndex, intent: Intent, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (similar enough to the query, of one of the intent's categories)."""
    if not rows:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    similar = index.vectors[rows] @ intent.vector >= intent.floor
    if not intent.categories:  # a catalog without categories: similarity decides alone
        return similar, similar
    same_category = np.array([str(index.category[r]) in intent.categories for r in rows], dtype=bool)
    return similar, same_category


@dataclass
class Verdict:
    """Retrieval metrics of one rewrite."""

    relevance: float
    increment: float
    hits: int
    new_rows: list[int]


def judge(index: LexicalIndex, intent: Intent, ranked: Ranked) -> Verdict:
    """Relevance, increment and hits of one rewrite's results against the original's intent."""
    head = ranked.rows[:RELEVANCE_DEPTH]
    similar, same = on_intent(index, intent, head)
    relevance = float(0.5 * similar.mean() + 0.5 * same.mean()) if head else 0.0
    tail = ranked.rows[:INCREMENT_DEPTH]
    similar_t, same_t = on_intent(index, intent, tail)
    new = [r for r, s, c in zip(tail, similar_t, same_t, strict=True) if s and c and r not in intent.original]
    increment = len(new) / INCREMENT_DEPTH
    return Verdict(relevance=round(relevance, 4), increment=round(increment, 4), hits=ranked.lexical_hits,
                   new_rows=new)
