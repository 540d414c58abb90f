"""A shopper's profile from their events: preferred brands and categories (weighted by what they did), price band
per currency, recent queries and items. Pure functions over events and products; the store lives in history.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from tools.core.types import Product
from tools.text import normalize

# how much one event says about a preference: purchase > add_to_cart > click > view
EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "purchase": 5.0}
TOP_PREFERENCES = 5
RECENT = 10
SMALL_BAND = 4

ProductLookup = Callable[[list[str]], list[Product]] | Mapping[str, Product]


class EventLike(Protocol):
    """What a profile reads from an event."""

    type: Any
    product_id: str | None
    query: str | None


class Preference(BaseModel):
    """A brand or category the shopper leans to; weight is its share of the shopper's weighted interactions."""

    name: str
    weight: float = Field(ge=0, le=1)
    purchased: bool = Field(default=False, description="the shopper bought something of it")


class PriceBand(BaseModel):
    """The shopper's usual price range in one currency: the 25th-75th percentile of the prices of the products they
    engaged with (the whole range when there are fewer than SMALL_BAND products)."""

    currency: str
    low: float
    high: float
    median: float
    n: int = Field(description="how many distinct products the band is drawn from")

    def contains(self, price: float) -> bool:
        """True when the price lies inside the band."""
        return self.low <= price <= self.high


class UserProfile(BaseModel):
    """What the history says about one shopper (empty for an unknown user)."""

    user_id: str
    recent_queries: list[str] = Field(default_factory=list)
    preferred_brands: list[Preference] = Field(default_factory=list)
    preferred_categories: list[Preference] = Field(default_factory=list)
    price_bands: dict[str, PriceBand] = Field(default_factory=dict, description="currency -> band")
    recently_viewed: list[str] = Field(default_factory=list, description="product ids viewed or clicked, newest first")
    recently_purchased: list[str] = Field(default_factory=list, description="product ids bought, newest first")
    recent_items: list[str] = Field(default_factory=list, description="every product engaged with, newest first")
    event_count: int = 0

    @property
    def is_empty(self) -> bool:
        """True when the shopper has no history."""
        return self.event_count == 0


def lookup_products(lookup: ProductLookup, ids: list[str]) -> dict[str, Product]:
    """Products by id through either a mapping or a `ids -> products` function (unknown ids are left out)."""
    if isinstance(lookup, Mapping):
        return {i: lookup[i] for i in ids if i in lookup}
    return {p.id: p for p in lookup(ids)}


def _kind(event: EventLike) -> str:
    return getattr(event.type, "value", event.type)


def _distinct(values: Iterable[str], limit: int) -> list[str]:
    return list(dict.fromkeys(values))[:limit]


def _preferences(weighted: list[tuple[str | None, float, bool]], total: float) -> list[Preference]:
    scores: dict[str, list[Any]] = {}
    for name, weight, bought in weighted:
        if not name:
            continue
        entry = scores.setdefault(normalize(name), [name, 0.0, False])
        entry[1] += weight
        entry[2] = entry[2] or bought
    ranked = sorted(scores.values(), key=lambda e: (-e[1], e[0]))[:TOP_PREFERENCES]
    return [Preference(name=n, weight=round(w / total, 4), purchased=b) for n, w, b in ranked]


def price_bands(products: Iterable[Product]) -> dict[str, PriceBand]:
    """Price band per currency over distinct products (see PriceBand)."""
    by_currency: dict[str, list[float]] = {}
    for p in products:
        if p.price is not None and p.currency:
            by_currency.setdefault(p.currency.upper(), []).append(p.price)
    bands = {}
    for currency, prices in by_currency.items():
        quantiles = [25, 50, 75] if len(prices) >= SMALL_BAND else [0, 50, 100]
        low, median, high = np.percentile(np.asarray(prices), quantiles)
        bands[currency] = PriceBand(currency=currency, low=round(float(low), 2), high=round(float(high), 2),
                                    median=round(float(median), 2), n=len(prices))
    return bands


def build_profile(user_id: str, events: Sequence[EventLike], lookup: ProductLookup,
                  event_count: int) -> UserProfile:
    """The profile of a user from their events, newest first."""
    acted = [e for e in events if _kind(e) in EVENT_WEIGHTS and e.product_id]
    products = lookup_products(lookup, _distinct((e.product_id for e in acted if e.product_id), len(acted)))
    weighted = [(products[e.product_id], EVENT_WEIGHTS[_kind(e)], _kind(e) == "purchase")
                for e in acted if e.product_id in products]
    total = sum(w for _, w, _ in weighted) or 1.0
    return UserProfile(
        user_id=user_id,
        recent_queries=_distinct((" ".join(e.query.split()) for e in events if _kind(e) == "search" and e.query),
                                 RECENT),
        preferred_brands=_preferences([(p.brand, w, b) for p, w, b in weighted], total),
        preferred_categories=_preferences([(p.category, w, b) for p, w, b in weighted], total),
        price_bands=price_bands(products.values()),
        recently_viewed=_distinct(
            (e.product_id for e in acted if e.product_id and _kind(e) in ("view", "click")), RECENT),
        recently_purchased=_distinct(
            (e.product_id for e in acted if e.product_id and _kind(e) == "purchase"), RECENT),
        recent_items=_distinct((e.product_id for e in acted if e.product_id), RECENT * 2),
        event_count=event_count,
    )
