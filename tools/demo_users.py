"""Demo shoppers with synthetic histories over the bundled demo catalog, so personalisation can be shown and tested.

The shoppers are described in `assistant/data/demo_users.jsonl` (interests as catalog categories, preferred brands,
a price range); their events are generated from those recipes with a seeded random generator over the real catalog
rows. The events are synthetic: no real shopper's behaviour is recorded here."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.core.types import Product
from tools.history import Event, EventType, HistoryStore
from tools.package_files import package_path
from tools.text import normalize

DEMO_USERS_FILE = package_path("tools", "resources", "demo_users.jsonl")
DEMO_SEED = "shopquery-demo-1"
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


class Interest(BaseModel):
    """Something a shopper searches for: the query typed and the catalog categories (or title words) it means."""

    query: str = Field(min_length=1)
    categories: list[str] = Field(default_factory=list)
    title_terms: list[str] = Field(default_factory=list)


class DemoUser(BaseModel):
    """A demo shopper's recipe and a one-line description in Chinese and English."""

    id: str = Field(min_length=1)
    lang: Literal["zh", "en"]
    currency: str
    brands: list[str] = Field(default_factory=list, description="brands this shopper prefers")
    price_min: float | None = None
    price_max: float | None = None
    sessions: int = Field(default=12, ge=1, le=200)
    description: dict[Literal["zh", "en"], str]
    interests: list[Interest] = Field(min_length=1)


@lru_cache(maxsize=4)
def load_demo_users(path: Path = DEMO_USERS_FILE) -> tuple[DemoUser, ...]:
    """The demo shoppers described in the bundled file."""
    with Path(path).open(encoding="utf-8") as fh:
        return tuple(DemoUser.model_validate_json(line) for line in fh if line.strip())


def __getattr__(name: str) -> Any:
    if name == "DEMO_USERS":  # read on first use, not at import
        return load_demo_users()
    raise AttributeError(name)


@dataclass(frozen=True)
class Taste:
    """What drives a simulated shopper's choices: preferred brands (normalised) and a price range."""

    brands: frozenset[str] = frozenset()
    price_min: float | None = None
    price_max: float | None = None

    def in_band(self, product: Product) -> bool:
        """True when the product's price fits the range."""
        price = product.price
        if price is None:
            return self.price_min is None and self.price_max is None
        return (self.price_min is None or price >= self.price_min) and (self.price_max is None or price <= self.price_max)


def interest_pool(products: Iterable[Product], currency: str, interest: Interest) -> list[Product]:
    """Catalog products in the currency filed under one of the interest's categories or titled with its terms."""
    categories = {normalize(c) for c in interest.categories}
    terms = [normalize(t) for t in interest.title_terms]
    pool = [p for p in products if (p.currency or "").upper() == currency.upper()
            and (normalize(p.category or "") in categories or any(t in normalize(p.title) for t in terms))]
    return sorted(pool, key=lambda p: p.id)


def _pick(rng: random.Random, pool: list[Product], taste: Taste) -> Product:
    favourites = [p for p in pool if normalize(p.brand or "") in taste.brands]
    if favourites and rng.random() < 0.5:
        return rng.choice(favourites)
    fitting = [p for p in pool if taste.in_band(p)]
    return rng.choice(fitting if fitting and rng.random() < 0.85 else pool)


def simulate_session(user_id: str, query: str, pool: list[Product], taste: Taste, rng: random.Random,
                     when: datetime) -> list[Event]:
    """One visit: a search, 2-4 views, 1-2 clicks, sometimes a cart and a purchase (favourite brands first)."""
    events = [Event(user_id=user_id, type=EventType.SEARCH, query=query, ts=when)]
    picks = [_pick(rng, pool, taste) for _ in range(rng.randint(2, 4))]
    viewed = list({p.id: p for p in picks}.values())
    clicked = rng.sample(viewed, k=min(len(viewed), rng.randint(1, 2)))
    steps = [(EventType.VIEW, p) for p in viewed] + [(EventType.CLICK, p) for p in clicked]
    if rng.random() < 0.5:
        liked = [p for p in clicked if normalize(p.brand or "") in taste.brands and taste.in_band(p)]
        chosen = liked[0] if liked else rng.choice(clicked)
        steps.append((EventType.ADD_TO_CART, chosen))
        if rng.random() < 0.7:
            steps.append((EventType.PURCHASE, chosen))
    for minute, (kind, product) in enumerate(steps, start=1):
        events.append(Event(user_id=user_id, type=kind, product_id=product.id, ts=when + timedelta(minutes=minute)))
    return events


def simulate_user(user_id: str, pools: list[tuple[str, list[Product]]], taste: Taste, rng: random.Random,
                  sessions: int, start: datetime = START) -> list[Event]:
    """A shopper's history: `sessions` visits, each about one of the (query, products) interests, days apart."""
    pools = [(q, p) for q, p in pools if p]
    events: list[Event] = []
    for n in range(sessions if pools else 0):
        query, pool = rng.choice(pools)
        when = start + timedelta(days=2 * n, hours=rng.randint(0, 12))
        events.extend(simulate_session(user_id, query, pool, taste, rng, when))
    return events


def demo_events(products: list[Product], seed: str = DEMO_SEED) -> dict[str, list[Event]]:
    """The demo shoppers' synthetic events over these products (deterministic for a seed)."""
    history: dict[str, list[Event]] = {}
    for user in load_demo_users():
        pools = [(i.query, interest_pool(products, user.currency, i)) for i in user.interests]
        taste = Taste(frozenset(normalize(b) for b in user.brands), user.price_min, user.price_max)
        history[user.id] = simulate_user(user.id, pools, taste, random.Random(f"{seed}:{user.id}"), user.sessions)
    return history


def seed_demo_users(history: HistoryStore, products: Iterable[Product], seed: str = DEMO_SEED) -> dict[str, int]:
    """Give the demo shoppers their synthetic histories (replacing any earlier ones: re-seeding never duplicates);
    returns events per user."""
    events = demo_events(list(products), seed)
    history.replace_user_events(list(events), [e for user_events in events.values() for e in user_events])
    return {user: len(user_events) for user, user_events in events.items()}
