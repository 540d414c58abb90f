"""The user-history store on real SQLite files: validation, migrations, durability settings, concurrency, profiles,
sessions, demo shoppers and the `shopquery history` commands."""

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text

from assistant.app import DEMO_CATALOG
from assistant.cli import main
from tools.core.errors import InputError, ShopqueryError
from tools.core.types import Product
from tools.demo_users import DEMO_USERS, demo_events, interest_pool, seed_demo_users
from tools.history import (
    LATEST_VERSION,
    EventType,
    HistoryStore,
    HistoryUnavailable,
    apply_migrations,
    open_engine,
    parse_event,
)
from tools.history_profile import EVENT_WEIGHTS


@pytest.fixture
def history(tmp_path):
    store = HistoryStore(None, tmp_path)
    yield store
    store.close()


@pytest.fixture(scope="module")
def demo_products():
    with DEMO_CATALOG.open(encoding="utf-8") as fh:
        return [Product.model_validate_json(line) for line in fh]


def P(pid, brand, category, price, currency="USD"):
    return Product(id=pid, title=f"{brand} {category} {pid}", brand=brand, category=category, price=price,
                   currency=currency)


# -- validation ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, words", [
    ({"user_id": "u", "type": "view"}, "view event needs the product_id"),
    ({"user_id": "u", "type": "search"}, "search event needs the query"),
    ({"user_id": "u", "type": "buy", "product_id": "1"}, "type"),
    ({"user_id": "", "type": "view", "product_id": "1"}, "user_id"),
    ({"user_id": "u", "type": "search", "query": "x" * 513}, "query"),
    ({"user_id": "u", "type": "view", "product_id": "1", "price": 3}, "price"),
])
def test_invalid_events_are_refused_with_the_field_named(history, bad, words):
    with pytest.raises(InputError, match=words):
        history.record(bad)
    assert history.count_events() == 0


def test_a_batch_with_one_bad_event_writes_nothing(history):
    good = {"user_id": "u", "type": "view", "product_id": "1"}
    with pytest.raises(InputError, match="event 2: .*nothing was recorded"):
        history.record_many([good, good, {"user_id": "u", "type": "purchase"}])
    assert history.count_events() == 0
    assert history.record_many([good, good]) == 2 and history.count_events() == 2


def test_times_are_stored_in_utc(history):
    local = datetime(2026, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    history.record({"user_id": "u", "type": "view", "product_id": "1", "ts": local})
    history.record({"user_id": "u", "type": "view", "product_id": "2", "ts": datetime(2026, 3, 1, 13, 0)})
    newest, oldest = history.events("u")
    assert oldest.ts == datetime(2026, 3, 1, 12, 0, tzinfo=UTC) and newest.ts.tzinfo == UTC
    assert (newest.product_id, oldest.product_id) == ("2", "1")


# -- schema and durability ------------------------------------------------------------------------------------------------
def test_a_v1_database_is_migrated_to_the_latest_version_keeping_its_events(tmp_path):
    assert LATEST_VERSION == 2
    v1_database_migrates(f"sqlite:///{tmp_path / 'old.db'}", "2025-01-02 03:04:05.000000")


def v1_database_migrates(url: str, old_ts: str) -> None:
    """A version-1 database with one event is brought to the latest schema, keeps the event, and a second open has
    nothing left to apply (shared with other backends; `old_ts` is a timestamp literal in the backend's form)."""
    engine = open_engine(url)
    assert apply_migrations(engine, target=1) == 1
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (user_id, type, product_id, ts) "
                          f"VALUES ('old', 'purchase', 'p1', '{old_ts}')"))
    assert "sessions" not in inspect(engine).get_table_names()
    engine.dispose()

    store = HistoryStore(url)
    assert store.version == LATEST_VERSION
    inspector = inspect(store.engine)
    assert {"events", "sessions", "schema_version"} <= set(inspector.get_table_names())
    assert {"ix_events_user_ts", "ix_events_product"} <= {i["name"] for i in inspector.get_indexes("events")}
    assert [e.product_id for e in store.events("old")] == ["p1"]
    store.save_session("s", "old", {"turns": 1})
    store.close()
    again = HistoryStore(url)  # idempotent: nothing left to apply
    assert again.version == LATEST_VERSION and again.load_session("s") == {"turns": 1}
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar() == 1
    again.close()


def test_sqlite_runs_in_wal_mode_with_full_sync_and_a_busy_timeout(history, tmp_path):
    history.record({"user_id": "u", "type": "view", "product_id": "1"})
    with history.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert (tmp_path / "history.db-wal").exists()
    # an acknowledged event is visible to a fresh connection that shares nothing with the store
    raw = sqlite3.connect(tmp_path / "history.db")
    assert raw.execute("SELECT product_id FROM events").fetchall() == [("1",)]
    raw.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    # two engines, as two processes would have
    writers_lose_nothing([HistoryStore(None, tmp_path), HistoryStore(None, tmp_path)])


def writers_lose_nothing(stores: list[HistoryStore]) -> None:
    """Eight threads write through two stores at once: every event is stored once (shared with other backends)."""
    errors = []

    def write(n):
        try:
            store = stores[n % 2]
            for i in range(25):
                store.record({"user_id": f"w{n}", "type": "view", "product_id": f"p{i}"})
            store.record_many([{"user_id": f"w{n}", "type": "click", "product_id": f"p{i}"} for i in range(25)])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stores[0].count_events() == 8 * 50
    for n in range(8):
        assert stores[1].count_events(f"w{n}") == 50
    with stores[0].engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT id) FROM events")).scalar() == 400
    for s in stores:
        s.close()


def test_a_locked_database_gives_a_clear_error_and_loses_nothing(tmp_path):
    store = HistoryStore(None, tmp_path, busy_timeout_s=0.2)
    store.record({"user_id": "u", "type": "view", "product_id": "1"})
    store.close()
    blocker = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryUnavailable, match="locked.*another connection"):
            store.record({"user_id": "u", "type": "view", "product_id": "2"})
        with pytest.raises(HistoryUnavailable, match="while reading events"):
            store.events("u")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.record({"user_id": "u", "type": "view", "product_id": "3"})
    assert [e.product_id for e in store.events("u")] == ["3", "1"]
    assert issubclass(HistoryUnavailable, ShopqueryError)


@pytest.mark.parametrize("url, words", [
    ("not a url", "invalid history database URL"),
    ("nosuchdb://host/db", "cannot use history database"),
])
def test_bad_urls_give_history_unavailable(url, words):
    with pytest.raises(HistoryUnavailable, match=words):
        HistoryStore(url)


def test_a_missing_driver_is_reported_without_the_password():
    with pytest.raises(HistoryUnavailable) as info:
        HistoryStore("oracle+nosuchdriver://scott:tiger@localhost/db")
    assert "tiger" not in str(info.value)


# -- queries and profiles ------------------------------------------------------------------------------------------
def test_recent_queries_are_distinct_and_newest_first(history):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, q in enumerate(["red dress", "蓝色T恤", "Red  Dress", "mouse"]):
        history.record({"user_id": "u", "type": "search", "query": q, "ts": start + timedelta(minutes=i)})
    assert history.recent_queries("u", 10) == ["mouse", "Red  Dress", "蓝色T恤"]
    assert history.recent_queries("u", 1) == ["mouse"]
    assert history.recent_queries("nobody") == []


def test_profile_weights_follow_event_types(history):
    catalog = {p.id: p for p in [P("a", "Logitech", "Mouse", 20), P("b", "HP", "Mouse", 30),
                                 P("c", "Dell", "Keyboard", 40)]}
    history.record_many([
        {"user_id": "u", "type": "purchase", "product_id": "a"},
        {"user_id": "u", "type": "view", "product_id": "b"},
        {"user_id": "u", "type": "click", "product_id": "b"},
        {"user_id": "u", "type": "view", "product_id": "c"},
        {"user_id": "u", "type": "view", "product_id": "gone"},  # no longer in the catalog: ignored
        {"user_id": "u", "type": "search", "query": "mouse"},
    ])
    profile = history.profile("u", catalog)
    total = EVENT_WEIGHTS["purchase"] + EVENT_WEIGHTS["view"] * 2 + EVENT_WEIGHTS["click"]
    brands = {p.name: p for p in profile.preferred_brands}
    assert [p.name for p in profile.preferred_brands] == ["Logitech", "HP", "Dell"]
    assert brands["Logitech"].weight == pytest.approx(EVENT_WEIGHTS["purchase"] / total, abs=1e-4)
    assert brands["Logitech"].purchased and not brands["HP"].purchased
    assert profile.preferred_categories[0].name == "Mouse"
    assert profile.preferred_categories[0].weight == pytest.approx(8 / 9, abs=1e-4)
    assert profile.recently_purchased == ["a"] and profile.recent_queries == ["mouse"]
    assert set(profile.recently_viewed) == {"b", "c", "gone"}
    assert profile.event_count == 6


def test_price_band_is_the_interquartile_range_per_currency(history):
    prices = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    catalog = {f"u{i}": P(f"u{i}", "B", "C", p) for i, p in enumerate(prices)}
    catalog.update({"y1": P("y1", "B", "C", 50, "CNY"), "y2": P("y2", "B", "C", 150, "CNY")})
    history.record_many([{"user_id": "u", "type": "view", "product_id": i} for i in catalog])
    bands = history.profile("u", catalog).price_bands
    assert (bands["USD"].low, bands["USD"].median, bands["USD"].high, bands["USD"].n) == (30, 50, 70, 9)
    assert (bands["CNY"].low, bands["CNY"].high) == (50, 150)  # too few products: the whole range
    assert bands["USD"].contains(30) and not bands["USD"].contains(71)


def test_profile_accepts_a_lookup_function(history):
    catalog = {"a": P("a", "Logitech", "Mouse", 20)}
    history.record({"user_id": "u", "type": "add_to_cart", "product_id": "a"})
    profile = history.profile("u", lambda ids: [catalog[i] for i in ids if i in catalog])
    assert profile.preferred_brands[0].name == "Logitech"


def test_an_unknown_user_has_an_empty_profile(history):
    profile = history.profile("nobody", {})
    assert profile.is_empty and profile.event_count == 0
    assert profile.preferred_brands == [] and profile.price_bands == {} and profile.recent_queries == []


# -- sessions --------------------------------------------------------------------------------------------------------
def test_sessions_round_trip_upsert_and_delete(history):
    state = {"messages": [{"role": "user", "content": "蓝色T恤"}], "filters": {"price_max": 100}}
    assert history.load_session("s1") is None
    history.save_session("s1", "u", state)
    assert history.load_session("s1") == state
    history.save_session("s1", "u", {"messages": []})
    assert history.load_session("s1") == {"messages": []}
    with history.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 1
    assert history.delete_session("s1") is True and history.delete_session("s1") is False
    assert history.load_session("s1") is None


@pytest.mark.parametrize("session_id, state, words", [
    ("", {}, "session id"),
    ("s", {"x": object()}, "not JSON-serialisable"),
    ("s", ["not", "a", "dict"], "JSON object"),
])
def test_bad_sessions_are_refused(history, session_id, state, words):
    with pytest.raises(InputError, match=words):
        history.save_session(session_id, "u", state)


# -- demo shoppers -----------------------------------------------------------------------------------------------------
def test_demo_users_are_listed_with_descriptions_in_both_languages():
    assert len(DEMO_USERS) == 6 and len({u.id for u in DEMO_USERS}) == 6
    for user in DEMO_USERS:
        assert user.description["zh"] and user.description["en"]
    assert {u.lang for u in DEMO_USERS} == {"zh", "en"}


def test_seeding_is_deterministic_idempotent_and_uses_real_products(history, demo_products):
    counts = seed_demo_users(history, demo_products)
    again = seed_demo_users(history, demo_products)
    assert counts == again and history.count_events() == sum(counts.values())
    assert all(n >= 40 for n in counts.values())
    ids = {p.id for p in demo_products}
    for user in DEMO_USERS:
        events = history.events(user.id, 1000)
        assert {e.product_id for e in events if e.type != EventType.SEARCH} <= ids
        assert {e.query for e in events if e.type == EventType.SEARCH} <= {i.query for i in user.interests}
    first = demo_events(demo_products)
    assert first == demo_events(demo_products)
    assert first != demo_events(demo_products, seed="another seed")


def test_demo_users_have_distinct_plausible_profiles(history, demo_products):
    seed_demo_users(history, demo_products)
    catalog = {p.id: p for p in demo_products}
    profiles = {u.id: history.profile(u.id, catalog) for u in DEMO_USERS}
    assert profiles["demo-en-laptop"].preferred_brands[0].name == "MSI"
    assert profiles["demo-en-laptop"].price_bands["USD"].low >= 700
    assert profiles["demo-en-gamer"].preferred_brands[0].name == "Alienware"
    assert profiles["demo-en-office"].preferred_brands[0].name == "Brother"
    assert profiles["demo-zh-nike"].preferred_brands[0].name in ("耐克", "nike")
    assert profiles["demo-zh-nike"].price_bands["CNY"].high <= 200
    assert profiles["demo-zh-phone"].price_bands["CNY"].high <= 100
    assert set(profiles["demo-zh-parent"].price_bands) == {"CNY"}
    tops = {p.preferred_categories[0].name for p in profiles.values()}
    assert len(tops) >= 5


def test_interest_pools_follow_category_and_currency(demo_products):
    gamer = next(u for u in DEMO_USERS if u.id == "demo-en-gamer")
    pool = interest_pool(demo_products, gamer.currency, gamer.interests[0])
    assert pool and all(p.category == "Keyboard" and p.currency == "USD" for p in pool)


# -- command line ----------------------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SHOPQUERY_HISTORY_URL", raising=False)
    monkeypatch.delenv("SHOPQUERY_CONFIG", raising=False)
    return tmp_path / "data"


def test_cli_records_and_shows_history(cli_env, capsys):
    assert main(["history", "record", "--user", "u1", "--type", "search", "--query", "gaming keyboard"]) == 0
    assert main(["history", "record", "--user", "u1", "--type", "purchase", "--product", "77192157"]) == 0
    assert "recorded event 2 (purchase) for u1" in capsys.readouterr().out
    assert main(["history", "show", "u1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["profile"]["recent_queries"] == ["gaming keyboard"]
    assert shown["profile"]["preferred_brands"][0]["name"] == "Alienware"  # from the bundled demo catalog
    assert [e["type"] for e in shown["events"]] == ["purchase", "search"]
    assert (cli_env / "history.db").exists()
    assert main(["history", "show", "u1"]) == 0
    assert "Alienware AW510K" in capsys.readouterr().out


def test_cli_refuses_a_bad_event_with_a_clear_message(cli_env, capsys):
    assert main(["history", "record", "--user", "u1", "--type", "view"]) == 2
    assert "view event needs the product_id" in capsys.readouterr().err
    assert main(["history", "show", "u1"]) == 0
    assert "u1: no history" in capsys.readouterr().out


def test_cli_seeds_demo_users_idempotently(cli_env, capsys):
    assert main(["history", "seed-demo"]) == 0
    first = capsys.readouterr().out
    assert all(u.id in first for u in DEMO_USERS) and "synthetic" in first
    assert main(["history", "seed-demo"]) == 0
    assert capsys.readouterr().out == first
    assert main(["history", "show", "demo-en-laptop", "--json"]) == 0
    profile = json.loads(capsys.readouterr().out)["profile"]
    assert profile["preferred_brands"][0]["name"] == "MSI" and profile["event_count"] > 40


def test_cli_reports_a_bad_history_url(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("SHOPQUERY_HISTORY_URL", "nosuchdb://x/y")
    assert main(["history", "show", "u1"]) == 3  # a database that cannot be used: a runtime error
    assert "cannot use history database" in capsys.readouterr().err


def test_parse_event_accepts_models_and_mappings():
    event = parse_event({"user_id": "u", "type": "click", "product_id": "1"})
    assert parse_event(event) is event and event.type is EventType.CLICK
    with pytest.raises(InputError, match="must be an object"):
        parse_event(42)
