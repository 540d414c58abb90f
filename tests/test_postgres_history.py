"""The history store, database sessions, the `shopquery history` commands and `POST /v1/events` on a real
PostgreSQL server (a throwaway cluster, tests/pg_cluster.py) reached through SHOPQUERY_HISTORY_URL only.

The backend-neutral checks of tests/test_history.py run here again against PostgreSQL (same functions, this
module's `history` fixture); the SQLite-specific ones (WAL, file locks) have PostgreSQL counterparts below."""

from __future__ import annotations

import json
import threading

import pytest
import test_history as sqlite_suite
from fakes import KeywordIntent, ScriptedChatModel
from fastapi.testclient import TestClient
from pg_cluster import PgCluster, free_port, start_cluster
from sqlalchemy import inspect, text
from test_agent import CATALOG

from assistant.agent import Agent
from assistant.api import create_app
from assistant.app import Assistant
from assistant.cli import main
from assistant.settings import load_settings
from tools.catalog_store import CatalogStore
from tools.history import HistoryStore, HistoryUnavailable

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def pg():
    """One PostgreSQL server for the module (skipped, or failed under SHOPQUERY_REQUIRE_POSTGRES=1, if absent)."""
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_url(pg: PgCluster) -> str:
    """An empty database on the module's server."""
    return pg.empty_database()


@pytest.fixture
def history(pg_url):
    store = HistoryStore(pg_url)
    yield store
    store.close()


demo_products = sqlite_suite.demo_products  # the same module-scoped fixture: the demo catalog's products


# -- the SQLite suite's backend-neutral checks, on PostgreSQL ------------------------------------------------------
test_invalid_events_are_refused_with_the_field_named = sqlite_suite.test_invalid_events_are_refused_with_the_field_named
test_a_batch_with_one_bad_event_writes_nothing = sqlite_suite.test_a_batch_with_one_bad_event_writes_nothing
test_times_are_stored_in_utc = sqlite_suite.test_times_are_stored_in_utc
test_recent_queries_are_distinct_and_newest_first = sqlite_suite.test_recent_queries_are_distinct_and_newest_first
test_profile_weights_follow_event_types = sqlite_suite.test_profile_weights_follow_event_types
test_price_band_is_the_interquartile_range_per_currency = \
    sqlite_suite.test_price_band_is_the_interquartile_range_per_currency
test_profile_accepts_a_lookup_function = sqlite_suite.test_profile_accepts_a_lookup_function
test_an_unknown_user_has_an_empty_profile = sqlite_suite.test_an_unknown_user_has_an_empty_profile
test_sessions_round_trip_upsert_and_delete = sqlite_suite.test_sessions_round_trip_upsert_and_delete
test_bad_sessions_are_refused = sqlite_suite.test_bad_sessions_are_refused
test_seeding_is_deterministic_idempotent_and_uses_real_products = \
    sqlite_suite.test_seeding_is_deterministic_idempotent_and_uses_real_products
test_demo_users_have_distinct_plausible_profiles = sqlite_suite.test_demo_users_have_distinct_plausible_profiles


def test_the_store_really_is_on_postgresql(history):
    assert history.engine.dialect.name == "postgresql" and history.engine.driver == "psycopg"
    history.record({"user_id": "u", "type": "view", "product_id": "1"})
    with history.engine.connect() as conn:
        assert conn.execute(text("SELECT version()")).scalar().startswith("PostgreSQL")
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 1


# -- schema ----------------------------------------------------------------------------------------------------------
def test_a_v1_database_is_migrated_to_the_latest_version_keeping_its_events(pg_url):
    sqlite_suite.v1_database_migrates(pg_url, "2025-01-02 03:04:05+00")
    store = HistoryStore(pg_url)
    ts_type = next(c["type"] for c in inspect(store.engine).get_columns("events") if c["name"] == "ts")
    assert getattr(ts_type, "timezone", False), "event times must be stored with their time zone"
    store.close()


def _open_concurrently(url: str, n: int) -> list[Exception]:
    errors: list[Exception] = []

    def open_store() -> None:
        try:
            HistoryStore(url).close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_replicas_starting_together_on_a_migrated_database_all_open(pg_url):
    HistoryStore(pg_url).close()  # the one-shot migration step of a deployment
    assert _open_concurrently(pg_url, 6) == []


def test_replicas_starting_together_on_an_empty_database_all_open(pg_url):
    # the first migration is serialised by an advisory lock: no CREATE TABLE race between replicas
    errors = _open_concurrently(pg_url, 6)
    if errors:
        raise errors[0]


# -- concurrency and failures ------------------------------------------------------------------------------------------
def test_concurrent_writers_lose_nothing(pg_url):
    # two engines, as two replicas would have
    sqlite_suite.writers_lose_nothing([HistoryStore(pg_url), HistoryStore(pg_url)])


@pytest.fixture(scope="module")
def own_cluster():
    """A server of their own for the tests that stop it."""
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


def test_a_stopped_server_gives_a_clear_error_and_loses_nothing(own_cluster):
    own_cluster.empty_database("down")
    store = HistoryStore(own_cluster.url("down", password="s3cret-pw"))  # trust auth: the password is carried
    store.record({"user_id": "u", "type": "view", "product_id": "1"})
    store.save_session("s", "u", {"turns": 1})
    own_cluster.stop()
    with pytest.raises(HistoryUnavailable, match="unavailable while recording an event") as info:
        store.record({"user_id": "u", "type": "view", "product_id": "2"})
    with pytest.raises(HistoryUnavailable, match="while reading events"):
        store.events("u")
    assert "s3cret-pw" not in str(info.value) and "***" in str(info.value)
    own_cluster.start()
    assert store.record({"user_id": "u", "type": "view", "product_id": "3"})
    assert [e.product_id for e in store.events("u")] == ["3", "1"]  # the refused event was not half-written
    assert store.load_session("s") == {"turns": 1}
    store.close()


def test_a_restart_between_calls_is_survived_by_the_pool(own_cluster):
    store = HistoryStore(own_cluster.empty_database("restart"))
    store.record({"user_id": "u", "type": "view", "product_id": "1"})
    own_cluster.stop()
    own_cluster.start()  # pooled connections now point at a dead server process
    outcomes = []
    for pid in ("2", "3"):
        try:
            outcomes.append(store.record({"user_id": "u", "type": "view", "product_id": pid}) > 0)
        except HistoryUnavailable:
            outcomes.append(False)
    assert outcomes[1], "the store must reconnect after a server restart"
    stored = [e.product_id for e in store.events("u")]
    assert stored == (["3", "2", "1"] if outcomes[0] else ["3", "1"])
    store.close()


@pytest.mark.parametrize("make_url, words", [
    (lambda c: c.url("no_such_database"), 'database "no_such_database" does not exist'),
    (lambda c: f"postgresql+psycopg://shopquery:pw-123@127.0.0.1:{free_port()}/x", "unavailable while opening"),
])
def test_unreachable_databases_are_reported_clearly(pg, make_url, words):
    with pytest.raises(HistoryUnavailable, match=words) as info:
        HistoryStore(make_url(pg))
    assert "pw-123" not in str(info.value)


# -- the application, configured by settings only ---------------------------------------------------------------------
def _replica(tmp_path, name, hash_embedder, **settings) -> Assistant:
    """One API replica: its own data dir and catalog copy, the shared history database, templated replies."""
    data = tmp_path / name
    assistant = Assistant(load_settings(data_dir=data, correct_spelling=False, expand_queries=False, suggest_rewrites=False, **settings),
                          embedder=hash_embedder, store=CatalogStore(data / "catalog", hash_embedder),
                          intent_classifier=KeywordIntent(), chat_model=ScriptedChatModel())
    assistant.use(agent=Agent(assistant, use_model=False))
    assistant.store.upsert([p.model_copy() for p in CATALOG])
    return assistant


@pytest.fixture
def pg_env(pg_url, monkeypatch):
    """SHOPQUERY_HISTORY_URL and SHOPQUERY_SESSIONS=database in the environment, as a deployment sets them."""
    monkeypatch.setenv("SHOPQUERY_HISTORY_URL", pg_url)
    monkeypatch.setenv("SHOPQUERY_SESSIONS", "database")
    monkeypatch.delenv("SHOPQUERY_CONFIG", raising=False)
    return pg_url


def test_a_conversation_continues_on_another_replica(pg_env, tmp_path, hash_embedder):
    a, b = (_replica(tmp_path, name, hash_embedder) for name in ("a", "b"))
    assert type(a.sessions).__name__ == "DatabaseSessions" and a.history.engine.dialect.name == "postgresql"
    with TestClient(create_app(a)) as first, TestClient(create_app(b)) as second:
        opened = first.post("/v1/chat", json={"message": "我想买件T恤", "user_id": "shopper-1"}).json()
        assert opened["action"] == "search" and opened["products"]
        follow = second.post("/v1/chat", json={"message": "蓝色的, 100块以内",
                                               "session_id": opened["session_id"]}).json()
    assert follow["session_id"] == opened["session_id"] and follow["refinements"] == ["constraints"]
    assert follow["filters"]["colors"] == ["blue"] and follow["filters"]["price_max"] == 100
    assert follow["products"] and all(p["color"] == "blue" and p["price"] <= 100 for p in follow["products"])
    check = HistoryStore(pg_env)
    stored = check.load_session(opened["session_id"])
    for store in (check, a.history, b.history):
        store.close()
    assert stored["user_id"] == "shopper-1" and len(stored["turns"]) >= 4


def test_events_posted_to_one_replica_shape_the_profile_on_another(pg_env, tmp_path, hash_embedder):
    a, b = (_replica(tmp_path, name, hash_embedder) for name in ("a", "b"))
    with TestClient(create_app(a)) as client:
        one = client.post("/v1/events", json={"user_id": "u1", "type": "purchase", "product_id": "t3"})
        assert one.status_code == 201 and one.json()["recorded"] == 1
        batch = [{"user_id": "u1", "type": "view", "product_id": "t2"},
                 {"user_id": "u1", "type": "search", "query": "蓝色T恤", "ts": "2026-01-02T03:04:05"}]
        assert client.post("/v1/events", json=batch).status_code == 201
        bad = client.post("/v1/events", json=[batch[0], {"user_id": "u1", "type": "click"}])
        assert bad.status_code == 422 and "needs the product_id" in bad.json()["error"]["message"]
    assert b.history.count_events("u1") == 3  # nothing of the bad batch was stored
    purchase = next(e for e in b.history.events("u1") if e.type == "purchase")
    assert purchase.id == one.json()["ids"][0] and purchase.product_id == "t3"
    profile = b.history.profile("u1", b.store.products_by_id)
    assert profile.preferred_brands[0].name == "海澜之家" and profile.recently_purchased == ["t3"]
    assert profile.recent_queries == ["蓝色T恤"]
    a.history.close()
    b.history.close()


@pytest.fixture
def cli_env(tmp_path, pg_env, monkeypatch):
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


test_cli_refuses_a_bad_event_with_a_clear_message = sqlite_suite.test_cli_refuses_a_bad_event_with_a_clear_message
test_cli_seeds_demo_users_idempotently = sqlite_suite.test_cli_seeds_demo_users_idempotently


def test_cli_records_and_shows_history_in_postgresql(cli_env, pg_env, capsys):
    assert main(["history", "record", "--user", "u1", "--type", "search", "--query", "gaming keyboard"]) == 0
    assert main(["history", "record", "--user", "u1", "--type", "purchase", "--product", "77192157"]) == 0
    assert "recorded event 2 (purchase) for u1" in capsys.readouterr().out
    assert main(["history", "show", "u1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["profile"]["recent_queries"] == ["gaming keyboard"]
    assert shown["profile"]["preferred_brands"][0]["name"] == "Alienware"
    assert not (cli_env / "history.db").exists()
    check = HistoryStore(pg_env)
    assert check.count_events("u1") == 2
    check.close()


def test_the_api_answers_503_while_the_database_is_down_and_records_again_after(own_cluster, tmp_path,
                                                                               hash_embedder, monkeypatch):
    own_cluster.empty_database("api_down")
    url = own_cluster.url("api_down", password="s3cret-pw")
    monkeypatch.setenv("SHOPQUERY_HISTORY_URL", url)
    monkeypatch.setenv("SHOPQUERY_SESSIONS", "database")
    replica = _replica(tmp_path, "a", hash_embedder)
    event = {"user_id": "u1", "type": "view", "product_id": "t1"}
    with TestClient(create_app(replica)) as client:
        assert client.post("/v1/events", json=event).status_code == 201
        own_cluster.stop()
        try:
            down = client.post("/v1/events", json=[event, event])
            assert down.status_code == 503 and down.headers["retry-after"]
            assert "unavailable" in down.json()["error"]["message"] and "s3cret-pw" not in down.text
        finally:
            own_cluster.start()
        statuses = [client.post("/v1/events", json=event).status_code for _ in range(2)]
    assert statuses[-1] == 201 and set(statuses) <= {201, 503}
    assert replica.history.count_events("u1") == 1 + statuses.count(201)  # the refused batch left nothing
    replica.history.close()
