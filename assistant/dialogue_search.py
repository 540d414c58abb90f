"""The search of a conversation turn: the catalog searched under the stated filters, kept to the kind of product the
shopper named (a keyboard, not a keyboard cover), then the size and the comparatives ("lighter", "bigger screen")
applied over the numbers the products' data gives. What could not be met is relaxed (price, then colour, then
brand; the kind longest) and reported, and so is a constraint the catalog has no field for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.dialogue_kind import has_size, lists_size, matches_kind, product_numbers
from tools.core.types import SearchFilters, SearchHit

RELAX_ORDER: tuple[tuple[str, dict[str, Any]], ...] = (
    ("price", {"price_min": None, "price_max": None}),
    ("color", {"colors": []}),
    ("brand", {"brands": []}),
)
OVERFETCH = 8  # candidates fetched per product shown, so the kind filter still leaves enough


@dataclass
class Found:
    """What a turn's search found and what it could not meet."""

    hits: list[SearchHit]
    used: SearchFilters
    relaxed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    kind_missing: bool = False


def _attempts(filters: SearchFilters) -> list[tuple[SearchFilters, list[str]]]:
    """The filters as stated, then each kind of filter dropped alone, then dropped one after another."""
    present = [(name, reset) for name, reset in RELAX_ORDER
               if any(getattr(filters, key) not in (None, []) for key in reset)]
    out: list[tuple[SearchFilters, list[str]]] = [(filters, [])]
    if len(present) > 1:
        out += [(filters.model_copy(update=reset), [name]) for name, reset in present]
    current = filters
    relaxed: list[str] = []
    for name, reset in present:
        current, relaxed = current.model_copy(update=reset), [*relaxed, name]
        out.append((current, list(relaxed)))
    return out


def search_turn(run: Callable[[SearchFilters, int], list[SearchHit]], search: Any, k: int) -> Found:
    """Search for a conversation's current search: `run(filters, depth)` is the catalog search."""
    exclude = set(search.exclude_ids)
    depth = k * OVERFETCH + len(exclude)
    nearest: Found | None = None  # the first attempt that found anything, for a kind the catalog lacks
    for filters, relaxed in _attempts(search.filters):
        hits = [h for h in run(filters, depth) if h.product.id not in exclude]
        if hits and nearest is None:
            nearest = Found(hits=hits, used=filters, relaxed=list(relaxed), kind_missing=bool(search.kind))
        of_kind = [h for h in hits if matches_kind(h.product, search.kind)]
        if of_kind:
            found = Found(hits=of_kind, used=filters, relaxed=relaxed)
            break
    else:
        found = nearest or Found(hits=[], used=search.filters, kind_missing=bool(search.kind))
    _apply_size(found, search)
    for comp in search.comparatives:
        _apply_comparative(found, comp)
    found.hits = found.hits[:k]
    return found


def _apply_size(found: Found, search: Any) -> None:
    """Keep the products whose data states the size asked for; say when none does or none lists sizes."""
    checks: list[tuple[str, Callable[[Any], bool], Callable[[Any], bool]]] = []
    if search.size:
        checks.append(("size", lambda p: has_size(p, search.size), lists_size))
    if search.screen_in:
        checks.append(("screen_size_in", lambda p: has_size(p, "", screen=search.screen_in),
                       lambda p: "screen_size_in" in product_numbers(p)))
    for name, fits, listed in checks:
        matching = [h for h in found.hits if fits(h.product)]
        if matching:
            found.hits = matching
        elif any(listed(h.product) for h in found.hits):
            found.relaxed.append(name)
        else:
            found.unknown.append(name)


def _apply_comparative(found: Found, comp: Any) -> None:
    """Keep the products past the comparative's bound (lighter than the median shown…), best first when there
    is no bound; say when the catalog gives no such number for these products or none is past the bound."""
    valued = [(h, product_numbers(h.product).get(comp.field)) for h in found.hits]
    have = [(h, v) for h, v in valued if v is not None]
    if not have:
        found.unknown.append(comp.field)
        return
    below = comp.direction == "below"
    if comp.bound is not None:
        passing = [(h, v) for h, v in have if (v < comp.bound if below else v > comp.bound)]
        if not passing:
            found.relaxed.append(comp.field)
            return
        have = passing
    found.hits = [h for h, _ in sorted(have, key=lambda hv: hv[1] if below else -hv[1])]


def trace_args(search: Any) -> dict[str, Any]:
    """The search as the trace shows it: query, filters, boost, kind, size and comparatives that are set."""
    return {"query": search.text, **search.filters.model_dump(exclude_defaults=True),
            **({"boost_categories": search.boost_categories} if search.boost_categories else {}),
            **({"kind": search.kind} if search.kind else {}), **({"size": search.size} if search.size else {}),
            **({"comparatives": [c.model_dump(exclude={"words"}) for c in search.comparatives]}
               if search.comparatives else {})}
