"""Features of a query's candidate products for ranking: lexical and vector scores (normalised per query), their
ranks, how much of the query the title covers, product-kind agreement, attribute agreement and title length."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tools.product_kind import kind_head, same_kind
from tools.text import normalize, tokenize

FEATURES = (
    "bm25", "cosine", "bm25_rank", "dense_rank", "coverage", "covered", "kind_match", "kind_other",
    "kind_accessory", "brand_match", "brand_other", "color_match", "title_len", "bm25_short", "cosine_short",
    "bm25_gap", "cosine_gap",
)
SHORT_QUERY = 2


@dataclass
class Evidence:
    """What the query says about the product beyond its words: its kind, and brands and colours it names."""

    kind: str | None = None
    brands: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)


@dataclass
class Candidates:
    """A query's candidate rows with their raw scores and ranks (0 = not in that side's list)."""

    rows: np.ndarray
    bm25: np.ndarray
    cosine: np.ndarray
    bm25_rank: np.ndarray
    dense_rank: np.ndarray


def top_rows(scores: np.ndarray, depth: int, positive: bool) -> np.ndarray:
    """Rows of the `depth` best scores, best first (only scores > 0 when `positive`)."""
    rows = np.flatnonzero(scores > 0) if positive else np.flatnonzero(np.isfinite(scores))
    if rows.size > depth:
        rows = rows[np.argpartition(-scores[rows], depth - 1)[:depth]]
    return rows[np.argsort(-scores[rows], kind="stable")]


def gather(bm25: np.ndarray, cosine: np.ndarray, depth: int) -> Candidates:
    """The union of the best `depth` rows by BM25 and by cosine, with their scores and ranks."""
    lexical, dense = top_rows(bm25, depth, True), top_rows(cosine, depth, False)
    rows = np.unique(np.concatenate([lexical, dense]))
    lex_rank = np.zeros(len(bm25), dtype=np.int32)
    lex_rank[lexical] = np.arange(1, lexical.size + 1)
    dense_rank = np.zeros(len(cosine), dtype=np.int32)
    dense_rank[dense] = np.arange(1, dense.size + 1)
    cos = np.where(np.isfinite(cosine[rows]), cosine[rows], 0.0)
    return Candidates(rows, bm25[rows], cos, lex_rank[rows], dense_rank[rows])


def _unit(values: np.ndarray) -> np.ndarray:
    """Min-max scaling to 0..1 within the candidates (all zero when they are all equal)."""
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _gap(values: np.ndarray, at: int = 10) -> float:
    """How far the best score stands above the `at`-th best, relative to the spread (the score curve's shape)."""
    ordered = np.sort(values)[::-1]
    spread = ordered[0] - ordered[-1]
    return float((ordered[0] - ordered[min(at, len(ordered)) - 1]) / spread) if spread > 0 else 0.0


def _rank_signal(ranks: np.ndarray) -> np.ndarray:
    return np.where(ranks > 0, 1.0 / np.log2(1.0 + np.maximum(ranks, 1)), 0.0)


def feature_matrix(cands: Candidates, query: str, evidence: Evidence, titles: list[set[str]],
                   kinds: np.ndarray, brands: np.ndarray, colors: np.ndarray, raw_titles: np.ndarray) -> np.ndarray:
    """One row of FEATURES per candidate."""
    n = cands.rows.size
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return x
    q_tokens = set(tokenize(query))
    short = float(len(q_tokens) <= SHORT_QUERY)
    x[:, 0] = cands.bm25 / cands.bm25.max() if cands.bm25.max() > 0 else 0.0
    x[:, 1] = _unit(cands.cosine)
    x[:, 2], x[:, 3] = _rank_signal(cands.bm25_rank), _rank_signal(cands.dense_rank)
    for j, row in enumerate(cands.rows):
        x[j, 4] = len(q_tokens & titles[row]) / len(q_tokens) if q_tokens else 0.0
    x[:, 5] = (x[:, 4] >= 1.0).astype(float)
    _kind_features(x, cands.rows, evidence.kind, kinds, raw_titles)
    if evidence.brands:
        wanted = {normalize(b) for b in evidence.brands}
        x[:, 9] = [brands[r] in wanted for r in cands.rows]
        x[:, 10] = [bool(brands[r]) and brands[r] not in wanted for r in cands.rows]
    if evidence.colors:
        x[:, 11] = [colors[r] in evidence.colors for r in cands.rows]
    x[:, 12] = [np.log1p(len(titles[r])) / 4.0 for r in cands.rows]
    x[:, 13], x[:, 14] = x[:, 0] * short, x[:, 1] * short
    x[:, 15], x[:, 16] = x[:, 0] * _gap(cands.bm25), x[:, 1] * _gap(cands.cosine)
    return x


def _kind_features(x: np.ndarray, rows: np.ndarray, kind: str | None, kinds: np.ndarray,
                   titles: np.ndarray) -> None:
    """Same kind as the query; another kind; another kind whose title names the query's kind (an accessory)."""
    if not kind:
        return
    head = kind_head(kind) or kind
    for j, row in enumerate(rows):
        other = kinds[row]
        if same_kind(kind, other):
            x[j, 6] = 1.0
        elif other:
            x[j, 7] = 1.0
            x[j, 8] = float(head in titles[row] or kind in titles[row])
