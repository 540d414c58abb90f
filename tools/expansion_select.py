"""Choosing among verified rewrites and fusing their rankings: each rewrite's score and verdict, the shopper's
preferences that raise a rewrite naming a preferred brand or category, and the weighted reciprocal-rank fusion of
the original's hits with the accepted rewrites' rankings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.catalog_search import RRF_K
from tools.catalog_store import CatalogStore
from tools.core.types import Rewrite, SearchHit
from tools.history_profile import UserProfile
from tools.text import normalize

# Thresholds, chosen on eval/data/retrieval_dev.jsonl (see eval/suites/expansion.py): a rewrite is accepted when it
# matches some product by words, at least MIN_RELEVANCE of its top results look like the original's, and it brings
# at least one new on-intent product. score = W_RELEVANCE * relevance + W_INCREMENT * min(1, 2 * increment)
# + the source's prior + PREFERENCE_BONUS when it names a preferred brand or category.
MIN_RELEVANCE = 0.6
W_RELEVANCE, W_INCREMENT = 0.6, 0.4
SOURCE_PRIOR = {"lexicon": 0.05, "querylog": 0.0, "llm": 0.0}
PREFERENCE_BONUS = 0.15
REWRITE_WEIGHT = 1.0  # RRF weight of each accepted rewrite's ranking; the original's is 1 (and it is deeper)
PROTECT_TOP = 10  # the original's first hits keep their places: rewrites fill the list below them


class Preferences(BaseModel):
    """What a shopper tends to buy, as plain lists (from their history)."""

    brands: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    def terms(self) -> list[str]:
        """The preferred brand and category words, normalised."""
        return [t for t in (normalize(x) for x in [*self.brands, *self.categories]) if t]


def preferences_of(profile: UserProfile) -> Preferences | None:
    """A shopper's top three preferred brands and categories from their history profile; None for an empty one."""
    if profile.is_empty:
        return None
    return Preferences(brands=[p.name for p in profile.preferred_brands[:3]],
                       categories=[p.name for p in profile.preferred_categories[:3]])


def as_preferences(preferences: Preferences | dict | None) -> Preferences:
    """Preferences from what a caller passes (None, a dict or Preferences)."""
    if preferences is None:
        return Preferences()
    return preferences if isinstance(preferences, Preferences) else Preferences.model_validate(preferences)


def base_score(rewrite: Rewrite) -> float:
    """The preference-free score of a verified rewrite."""
    return round(W_RELEVANCE * rewrite.relevance + W_INCREMENT * min(1.0, 2 * rewrite.increment)
                 + SOURCE_PRIOR.get(rewrite.source, 0.0), 4)


def verdict_reason(rewrite: Rewrite) -> str:
    """Why a rewrite passes or fails verification ('' when it passes)."""
    if rewrite.hits == 0:
        return "matches no product by words"
    if rewrite.relevance < MIN_RELEVANCE:
        return f"off intent (relevance {rewrite.relevance:.2f} < {MIN_RELEVANCE})"
    if rewrite.increment <= 0:
        return "adds no new on-intent product"
    return ""


def select(verified: list[Rewrite], prefs: Preferences, k: int) -> list[Rewrite]:
    """All verified rewrites, the best `k` that pass verification marked accepted (a rewrite naming a preferred
    brand or category gets PREFERENCE_BONUS), sorted accepted first, then by score."""
    terms = prefs.terms()
    out = []
    for r in verified:
        preferred = any(t in r.text for t in terms)
        out.append(r.model_copy(update={"score": round(base_score(r) + PREFERENCE_BONUS * preferred, 4),
                                        "accepted": False, "reason": verdict_reason(r)}))
    out.sort(key=lambda r: (r.reason != "", -r.score, r.text))
    for i, r in enumerate(out):
        if not r.reason:
            r.accepted = i < k
            r.reason = "verified" if r.accepted else f"verified, but not among the best {k}"
    return out


def fuse_hits(store: CatalogStore, hits: list[SearchHit], rankings: list[list[int]], k: int,
              weight: float | None = None, protect: int | None = None,
              original_rows: list[int] | None = None) -> list[SearchHit]:
    """The original hits (then its deeper `original_rows`, if given) and each rewrite's ranking (catalog rows)
    fused by weighted reciprocal rank (rewrites weigh REWRITE_WEIGHT, the original 1); the original's first
    `protect` (PROTECT_TOP) hits keep their places."""
    weight = REWRITE_WEIGHT if weight is None else weight
    protect = PROTECT_TOP if protect is None else protect
    index = store.index
    original = [h.product.id for h in hits]
    original += [index.products[r].id for r in original_rows or [] if index.products[r].id not in set(original)]
    scores: dict[str, float] = {pid: 1.0 / (RRF_K + rank) for rank, pid in enumerate(original, start=1)}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            pid = index.products[row].id
            scores[pid] = scores.get(pid, 0.0) + weight / (RRF_K + rank)
    kept = original[:min(protect, k)]
    rest = sorted((item for item in scores.items() if item[0] not in set(kept)), key=lambda item: -item[1])
    order = kept + [pid for pid, _ in rest][:k - len(kept)]
    by_id = {h.product.id: h for h in hits}
    return [(by_id.get(pid) or SearchHit(product=index.products[index.row_of[pid]], score=0.0))
            .model_copy(update={"score": round(scores[pid], 6)}) for pid in order]
