"""The application against a real Chroma server (`chroma run`, tests/chroma_server.py), configured by settings only
(SHOPQUERY_CHROMA_URL): ingest, search results identical to the embedded store's, a second replica reading the
same catalog, persistence across a server restart, clear errors when the server is down, and two API replicas
sharing the server, a PostgreSQL history and database sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import pytest
from chroma_server import ChromaServer
from conftest import SMALL_CATALOG
from fakes import HashEmbedder, KeywordIntent, ScriptedChatModel
from fastapi.testclient import TestClient
from pg_cluster import start_cluster
from test_agent import CATALOG

from assistant.agent import Agent
from assistant.api import create_app
from assistant.app import Assistant
from assistant.cli import main
from assistant.settings import load_settings
from tools.catalog_search import search_catalog
from tools.catalog_store import CatalogStore
from tools.core.errors import CatalogError
from tools.history import LATEST_VERSION, HistoryStore

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PRODUCTS = {p.id: p for p in [*SMALL_CATALOG, *CATALOG]}
QUERIES = ["wireless mouse", "蓝色T恤", "手机壳", "HP ink", "black keyboard", "连衣裙 红色", "gaming mouse green",
           "iphone 15 case"]
FAST_PATH_OFF = {"correct_spelling": False, "classify_intent": False, "expand_queries": False, "suggest_rewrites": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Chroma server for the module, persisting into a temp dir."""
    root = tmp_path_factory.mktemp("chroma-server")
    chroma = ChromaServer(root / "data", root / "server.log")
    chroma.start()
    yield chroma
    chroma.stop()


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in PRODUCTS.values()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def e5():
    """The real multilingual-e5-small embedder (no ties between distances, unlike the hashing test embedder)."""
    from tools.embeddings import get_embedder

    return get_embedder("e5-torch")


def server_assistant(data_dir, url, embedder, collection="products", **settings) -> Assistant:
    """An Assistant whose store comes from the settings alone (chroma_url); the test embedder is injected."""
    return Assistant(load_settings(data_dir=data_dir, chroma_url=url, collection=collection, **FAST_PATH_OFF,
                                   **settings), embedder=embedder)


def hits(store, query, mode="hybrid", filters=None):
    return [(h.product.id, h.score) for h in search_catalog(store, query, filters=filters, k=10, mode=mode)]


def test_the_server_holds_the_catalog_and_searches_like_the_embedded_store(server, catalog_file, tmp_path, e5):
    app = server_assistant(tmp_path / "replica", server.url, e5, collection="same-results")
    result = app.ingest(catalog_file, progress=False)
    assert result.loaded == len(PRODUCTS) and app.store.count() == len(PRODUCTS)
    assert not (tmp_path / "replica" / "catalog" / "chroma").exists(), "vectors must live on the server"
    raw = chromadb.HttpClient(host="127.0.0.1", port=server.port).get_collection("same-results")
    assert raw.count() == len(PRODUCTS) and len(raw.get(limit=100)["ids"]) == len(PRODUCTS)

    embedded = CatalogStore(tmp_path / "embedded", e5, int8_queries=app.store.int8_queries)
    embedded.upsert(list(PRODUCTS.values()))
    for query in QUERIES:
        for mode in ("hybrid", "dense", "bm25"):
            assert hits(app.store, query, mode) == hits(embedded, query, mode), (query, mode)
    local = Assistant(load_settings(data_dir=tmp_path / "local", **FAST_PATH_OFF), embedder=app.embedder,
                      store=embedded)
    for query in ["蓝色T恤 100元以内", "wireless mouse under $25", "黑色 手机"]:
        remote, here = app.analyze(query), local.analyze(query)
        assert remote.filters == here.filters
        assert [h.product.id for h in remote.products] == [h.product.id for h in here.products], query


def test_a_second_replica_reads_the_catalog_without_embedding_it_again(server, catalog_file, tmp_path):
    first = server_assistant(tmp_path / "a", server.url, HashEmbedder(), collection="two-replicas")
    first.ingest(catalog_file, progress=False)
    embedder = HashEmbedder()
    second = server_assistant(tmp_path / "b", server.url, embedder, collection="two-replicas")
    assert second.ensure_catalog(progress=False) is None  # not empty: the demo catalog is not loaded
    assert len(second.store.index.products) == len(PRODUCTS) and embedder.passages_embedded == 0
    for query in QUERIES:
        assert hits(second.store, query) == hits(first.store, query)
    again = second.ingest(catalog_file, progress=False)
    assert again.unchanged == len(PRODUCTS) and embedder.passages_embedded == 0


def test_the_catalog_survives_a_server_restart(server, catalog_file, tmp_path):
    before = server_assistant(tmp_path / "a", server.url, HashEmbedder(), collection="restart")
    before.ingest(catalog_file, progress=False)
    expected = {q: hits(before.store, q) for q in QUERIES}
    server.stop()
    assert not server.alive()
    server.start()
    after = server_assistant(tmp_path / "b", server.url, HashEmbedder(), collection="restart")
    assert after.store.count() == len(PRODUCTS)
    assert {q: hits(after.store, q) for q in QUERIES} == expected


def test_a_server_that_is_down_gives_a_clear_error(tmp_path):
    down = ChromaServer(tmp_path / "never-started", tmp_path / "log")  # a free port nobody listens on
    app = server_assistant(tmp_path / "a", down.url, HashEmbedder())
    app.use(chat_model=ScriptedChatModel())  # /readyz reports the model too; this test is about the store
    with pytest.raises(CatalogError, match=f"cannot open the catalog store at {down.url}"):
        app.store.count()
    with pytest.raises(CatalogError, match="cannot open the catalog store"):
        app.ensure_catalog(progress=False)  # no silent fallback to a local demo catalog
    assert not (tmp_path / "a" / "catalog" / "chroma").exists()
    with TestClient(create_app(app)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and down.url in ready.json()["reason"]
        analyze = client.post("/v1/analyze", json={"query": "mouse"})
    assert analyze.status_code == 503 and "cannot open the catalog store" in analyze.json()["error"]["message"]
    assert analyze.headers["retry-after"]


def test_a_running_replica_answers_from_its_index_while_the_server_is_down(server, catalog_file, tmp_path):
    app = server_assistant(tmp_path / "a", server.url, HashEmbedder(), collection="outage")
    app.ingest(catalog_file, progress=False)
    expected = {q: [i for i, _ in hits(app.store, q)] for q in QUERIES}
    server.stop()
    try:
        assert {q: [i for i, _ in hits(app.store, q)] for q in QUERIES} == expected
        assert app.store.vector_error, "the store reports why it is degraded"
        with pytest.raises(CatalogError, match="cannot write the catalog"):
            app.store.upsert([PRODUCTS["1"].model_copy(update={"title": "changed while down"})])
    finally:
        server.start()
    deadline = time.monotonic() + 30
    while hits(app.store, QUERIES[0]) and app.store.vector_error is not None:
        assert time.monotonic() < deadline, "the store never went back to the server"
        time.sleep(0.5)
    assert {q: [i for i, _ in hits(app.store, q)] for q in QUERIES} == expected
    assert app.store.count() == len(PRODUCTS)


def test_the_ingest_and_analyze_commands_use_the_server(server, catalog_file, tmp_path, monkeypatch, capsys):
    """The deployment's ingest job and a replica, through environment variables and the real e5 embedder."""
    for key, value in {"SHOPQUERY_CHROMA_URL": server.url, "SHOPQUERY_COLLECTION": "cli", "SHOPQUERY_DATA_DIR":
                       str(tmp_path / "ingest-job"), "SHOPQUERY_CLASSIFY_INTENT": "false",
                       "SHOPQUERY_EXPAND_QUERIES": "false"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SHOPQUERY_CONFIG", raising=False)
    assert main(["ingest", str(catalog_file), "--quiet"]) == 0
    assert str(len(PRODUCTS)) in capsys.readouterr().out
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path / "replica"))
    assert main(["analyze", "wireless mouse under $25", "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    found = [h["product"]["id"] for h in analysis["products"]]
    assert {"1", "m1"} & set(found[:3]) and all(PRODUCTS[i].price <= 25 for i in found)
    assert not (tmp_path / "replica" / "catalog" / "chroma").exists()


def _replica(data_dir, chroma_url, history_url, embedder) -> Assistant:
    """An API replica configured like a deployment: Chroma server, PostgreSQL history, database sessions."""
    app = server_assistant(data_dir, chroma_url, embedder, collection="replicas", history_url=history_url,
                           sessions="database")
    app.use(intent_classifier=KeywordIntent(), chat_model=ScriptedChatModel(), agent=Agent(app, use_model=False))
    return app


def test_two_api_replicas_share_catalog_sessions_and_history(server, tmp_path):
    cluster = start_cluster()
    try:
        history_url = cluster.empty_database("replicas")
        embedder = HashEmbedder()
        CatalogStore(tmp_path / "ingest", embedder, "replicas", server.url).upsert(list(PRODUCTS.values()))
        a, b = (_replica(tmp_path / name, server.url, history_url, embedder) for name in ("a", "b"))
        with TestClient(create_app(a)) as first, TestClient(create_app(b)) as second:
            assert first.get("/readyz").json()["products"] == second.get("/readyz").json()["products"] \
                == len(PRODUCTS)
            opened = first.post("/v1/chat", json={"message": "我想买件T恤", "user_id": "shopper-9"}).json()
            follow = second.post("/v1/chat", json={"message": "蓝色的, 100块以内",
                                                   "session_id": opened["session_id"]}).json()
            event = first.post("/v1/events", json={"user_id": "shopper-9", "type": "purchase", "product_id": "t3"})
            assert event.status_code == 201
        assert follow["refinements"] == ["constraints"] and follow["filters"]["colors"] == ["blue"]
        assert follow["products"] and all(p["color"] == "blue" and p["price"] <= 100 for p in follow["products"])
        assert b.history.profile("shopper-9", b.store.products_by_id).recently_purchased == ["t3"]
        for app in (a, b):
            app.history.close()
    finally:
        cluster.destroy()


def test_the_deployment_init_job_migrates_history_and_ingests_into_the_server(server, catalog_file, tmp_path):
    """deploy/init_job.sh as the compose `init` service runs it, against the real servers."""
    cluster = start_cluster()
    try:
        history_url = cluster.empty_database("init_job")
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "SHOPQUERY_DATA_DIR": str(tmp_path / "job"), "SHOPQUERY_CHROMA_URL": server.url,
               "SHOPQUERY_COLLECTION": "init-job", "SHOPQUERY_HISTORY_URL": history_url,
               "SHOPQUERY_SESSIONS": "database", "CATALOG_DIR": str(catalog_file.parent),
               "CATALOG_FILE": catalog_file.name}
        job = [str(Path(__file__).resolve().parents[1] / "deploy" / "init_job.sh")]
        done = subprocess.run(job, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"history schema version {LATEST_VERSION}" in done.stdout
        assert f"loaded {len(PRODUCTS)} ({len(PRODUCTS)} new" in done.stdout
        again = subprocess.run(job, env={**env, "CATALOG_FILE": ""}, capture_output=True, text=True,
                               timeout=600, check=False)
        assert again.returncode == 0 and "already holds products: nothing ingested" in again.stdout
        assert "password" not in done.stdout + again.stdout
        store = HistoryStore(history_url)
        assert store.version == LATEST_VERSION and store.count_events() == 0
        store.close()
        raw = chromadb.HttpClient(host="127.0.0.1", port=server.port).get_collection("init-job")
        assert raw.count() == len(PRODUCTS)
    finally:
        cluster.destroy()
