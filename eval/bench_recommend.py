"""Benchmark: personalised re-ranking (tools.recommend) against the plain search order and a popularity re-rank,
by leave-last-out hit rate@10 over synthetic shopper histories, plus the latency of each in the same run.

    .venv/bin/python eval/bench_recommend.py [--users-per-persona 25] [--seed bench-heldout-1] [--json]

The histories are SYNTHETIC: shoppers are simulated over the demo catalog from the six demo personas
(tools/resources/demo_users.jsonl), each simulated shopper with its own randomly drawn favourite brands and price
window, using a seed distinct from the demo seed. For every shopper with a purchase, the last purchase is held out
together with the rest of its visit; the visit's query is searched (hybrid, top 50 candidates) and each method ranks
those candidates using only the remaining events of everyone. A hit is the held-out product in the top 10.
The simulator's assumptions (brand loyalty, a price window, co-purchases within a persona) are what the re-ranker
models, so these figures show that the re-ranker uses such signals, not how real shoppers behave."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.app import DEMO_CATALOG  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from eval.harness import assistant_for_catalog  # noqa: E402
from eval.metrics import percentile  # noqa: E402
from tools.catalog_search import search_catalog  # noqa: E402
from tools.core.types import Product, SearchHit  # noqa: E402
from tools.demo_users import DEMO_SEED, DemoUser, Taste, interest_pool, load_demo_users, simulate_user  # noqa: E402
from tools.history import Event, EventType, HistoryStore  # noqa: E402
from tools.recommend import ItemItemModel, recommend  # noqa: E402
from tools.text import normalize  # noqa: E402

CANDIDATES = 50
K = 10


@dataclass
class Case:
    """One held-out purchase: who, the query of that visit, the product bought."""

    user_id: str
    lang: str
    query: str
    target: str


def random_taste(persona: DemoUser, pools: list[tuple[str, list[Product]]], rng: random.Random) -> Taste:
    """Favourite brands (1-2, drawn by how many products they have in the persona's pools) and a price window
    covering half of the pools' price range, placed at random."""
    products = [p for _, pool in pools for p in pool]
    brands = Counter(normalize(p.brand) for p in products if p.brand)
    names = sorted(brands)
    chosen = set(rng.choices(names, weights=[brands[n] for n in names], k=rng.randint(1, 2))) if names else set()
    prices = sorted(p.price for p in products if p.price is not None)
    if not prices:
        return Taste(frozenset(chosen))
    start = rng.uniform(0, 0.5)
    low, high = prices[int(start * (len(prices) - 1))], prices[int((start + 0.5) * (len(prices) - 1))]
    return Taste(frozenset(chosen), low, high)


def population(products: list[Product], per_persona: int, seed: str) -> dict[str, tuple[str, list[Event]]]:
    """user id -> (language, synthetic events) for `per_persona` shoppers of every demo persona."""
    users = {}
    for persona in load_demo_users():
        pools = [(i.query, interest_pool(products, persona.currency, i)) for i in persona.interests]
        for n in range(per_persona):
            user_id = f"{persona.id}-sim{n}"
            rng = random.Random(f"{seed}:{user_id}")
            taste = random_taste(persona, pools, rng)
            users[user_id] = (persona.lang, simulate_user(user_id, pools, taste, rng, rng.randint(6, 14)))
    return users


def hold_out(users: dict[str, tuple[str, list[Event]]]) -> tuple[list[Case], list[Event]]:
    """Cut each shopper's last visit with a purchase: the cases, and every event left for training."""
    cases, training = [], []
    for user_id, (lang, events) in users.items():
        buys = [i for i, e in enumerate(events) if e.type is EventType.PURCHASE]
        if not buys:
            training.extend(events)
            continue
        start = max(i for i, e in enumerate(events[: buys[-1]]) if e.type is EventType.SEARCH)
        cases.append(Case(user_id, lang, events[start].query or "", events[buys[-1]].product_id or ""))
        training.extend(events[:start])
    return cases, training


def by_popularity(candidates: list[SearchHit], model: ItemItemModel) -> list[str]:
    """Candidates ordered by summed interaction weight (ties keep the search order)."""
    scores = model.popularity_of([h.product.id for h in candidates])
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
    return [candidates[i].product.id for i in order]


def evaluate(store, history: HistoryStore, model: ItemItemModel, cases: list[Case]) -> dict:
    """Hit rate@10 per method (overall and per language) and latency medians."""
    hits = {m: Counter() for m in ("search", "popularity", "personalised")}
    totals: Counter = Counter()
    in_candidates = 0
    times: dict[str, list[float]] = {"search top-10": [], "search top-50 + profile + rerank": [], "rerank only": []}
    for case in cases:
        store.clear_query_cache()
        t0 = time.perf_counter()
        search_catalog(store, case.query, k=K)
        times["search top-10"].append((time.perf_counter() - t0) * 1000)
        store.clear_query_cache()
        t0 = time.perf_counter()
        candidates = search_catalog(store, case.query, k=CANDIDATES)
        profile = history.profile(case.user_id, store.products_by_id)
        t1 = time.perf_counter()
        recs = recommend(candidates, profile, model, k=K, lang=case.lang, lookup=store.products_by_id)
        t2 = time.perf_counter()
        times["search top-50 + profile + rerank"].append((t2 - t0) * 1000)
        times["rerank only"].append((t2 - t1) * 1000)
        ranked = {"search": [h.product.id for h in candidates][:K], "popularity": by_popularity(candidates, model)[:K],
                  "personalised": [r.product.id for r in recs]}
        for group in ("all", case.lang):
            totals[group] += 1
            for method, ids in ranked.items():
                hits[method][group] += case.target in ids
        in_candidates += case.target in {h.product.id for h in candidates}
    result = {f"hit@10 {m} ({g})": round(hits[m][g] / totals[g], 3) for m in hits for g in sorted(totals)}
    result["target among the 50 candidates (all)"] = round(in_candidates / max(1, len(cases)), 3)
    result.update({f"p50 ms {name}": round(percentile(v, 50), 2) for name, v in times.items()})
    result["cases"] = dict(totals)
    return result


def main() -> int:
    """Simulate, hold out, rank, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users-per-persona", type=int, default=25)
    parser.add_argument("--seed", default="bench-heldout-1", help="simulation seed (not the demo seed)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the benchmark's catalog store is kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.seed == DEMO_SEED:
        parser.error("use a seed other than the demo seed")
    settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    assistant, info = assistant_for_catalog(settings, DEMO_CATALOG, progress=not args.json)
    store = assistant.store
    users = population(store.index.products, args.users_per_persona, args.seed)
    cases, training = hold_out(users)
    with tempfile.TemporaryDirectory() as tmp:
        history = HistoryStore(None, Path(tmp))
        history.record_many(training)
        model = ItemItemModel.from_history(history)
        search_catalog(store, "warm up", k=K)
        result = {"histories": "synthetic (simulated shoppers, seed " + args.seed + ")",
                  "shoppers": len(users), "training events": len(training), **info,
                  **evaluate(store, history, model, cases)}
        history.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("NOTE: the shopper histories are synthetic; see the module docstring.")
        for key, value in result.items():
            print(f"{key:>42}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
