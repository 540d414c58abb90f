"""Faults injected under a running API (real uvicorn on loopback, real clients, real chromadb and SQLite files):
each one gives a degraded answer with a note saying what is missing, a /readyz that says so, and recovery once the
fault clears, without a restart. The model faults use a tiny real HTTP server speaking the OpenAI chat API."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from fakes import KeywordIntent
from servers import TinyOpenAI, free_port, running_api
from test_agent import CATALOG

from assistant.api import create_app
from assistant.app import Assistant
from assistant.settings import Settings
from tools.catalog_store import CatalogStore
from tools.core.errors import CatalogError
from tools.history import HistoryStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def make_assistant(data: Path, embedder, *, history_wait_s: float = 0.5, ingest: bool = True,
                   **settings) -> Assistant:
    """An Assistant over the agent tests' catalog in real chromadb, with a history database whose lock waits
    are short (the fault tests hold that lock)."""
    assistant = Assistant(Settings(data_dir=data, correct_spelling=False, expansion_log_size=300, **settings),
                          embedder=embedder, store=CatalogStore(data / "catalog", embedder, retry_s=0.2),
                          intent_classifier=KeywordIntent(),
                          history=HistoryStore(data_dir=data, busy_timeout_s=history_wait_s))
    if ingest and not (data / "catalog" / "index").exists():
        assistant.store.upsert([p.model_copy() for p in CATALOG])
    return assistant


def openai_settings(base_url: str, **extra) -> dict:
    return {"llm_backend": "openai", "llm_base_url": base_url, "llm_model_name": "tiny", **extra}


def ask(http: httpx.Client, message: str, **extra) -> dict:
    r = http.post("/v1/chat", json={"message": message, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(fn, what: str, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ready(http: httpx.Client) -> tuple[int, dict]:
    r = http.get("/readyz")
    return r.status_code, r.json()


def model_status(http: httpx.Client, want: str) -> dict | None:
    code, body = ready(http)
    return body if body.get("model", {}).get("status") == want else None


def cites_the_cards(turn: dict) -> bool:
    """The templated reply speaks of the products in the cards: it names the cheapest one's price."""
    prices = [p["price"] for p in turn["products"] if p.get("price") is not None]
    return bool(prices) and f"{min(prices):.2f}" in turn["reply"]


# --- the model ------------------------------------------------------------------------------------------------------
def test_model_server_down_then_back(tmp_path, hash_embedder):
    port = free_port()
    assistant = make_assistant(tmp_path, hash_embedder, **openai_settings(f"http://127.0.0.1:{port}/v1"))
    import openai

    with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)
        completion = client.chat.completions.create(model="shopquery", messages=[
            {"role": "user", "content": "wireless mouse"}])
        turn = completion.model_extra["shopquery"]
        assert turn["products"] and turn["fallback"] and "unavailable" in turn["fallback"]
        assert any("model is unavailable" in n for n in turn["notes"])
        assert completion.choices[0].message.content == turn["reply"] and cites_the_cards(turn)
        body = wait_for(lambda: model_status(http, "unavailable"), "the model to be reported unavailable")
        assert body["status"] == "degraded" and http.get("/readyz").status_code == 200
        assert f"127.0.0.1:{port}" in body["model"]["reason"]
        with TinyOpenAI(port=port):
            turn = ask(http, "wireless mouse")
            assert turn["used_model"] and turn["fallback"] is None and turn["notes"] == []
            body = wait_for(lambda: model_status(http, "ok"), "the model to recover")
            assert body["status"] == "ready" and body["degraded"] == []
        gone = ask(http, "wireless mouse")  # the server went away again
        assert gone["products"] and gone["fallback"] and "unavailable" in gone["fallback"]


def test_slow_model_server_falls_back_within_the_client_timeout(tmp_path, hash_embedder):
    """With SHOPQUERY_LLM_TIMEOUT_S set below the agent's deadline (docs/operations.md), a server that sleeps
    before answering costs a turn at most two client timeouts (one retry), then the fast path answers."""
    with TinyOpenAI(mode="slow", delay_s=8.0) as server:
        settings = openai_settings(server.base_url, agent_timeout_s=3.0, llm_timeout_s=1.0)
        assistant = make_assistant(tmp_path, hash_embedder, **settings)
        with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
            started = time.perf_counter()
            turn = ask(http, "wireless mouse")
            took = time.perf_counter() - started
            assert turn["products"] and turn["fallback"] and not turn["used_model"]
            assert any("fast-path answer" in n for n in turn["notes"])
            assert took < 6.0, f"the turn waited {took:.1f} s for a model server that sleeps 8 s"
            body = wait_for(lambda: model_status(http, "degraded"), "a degraded model status")
            assert "timed out" in body["model"]["reason"].lower()
            server.mode = "ok"
            assert ask(http, "wireless mouse")["used_model"]
            assert wait_for(lambda: model_status(http, "ok"), "the model to recover")


def test_agent_deadline_bounds_a_silent_model_server(tmp_path, hash_embedder):
    with TinyOpenAI(mode="slow", delay_s=8.0) as server:
        assistant = make_assistant(tmp_path, hash_embedder, **openai_settings(server.base_url, agent_timeout_s=1.5))
        with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
            started = time.perf_counter()
            turn = ask(http, "wireless mouse")
            assert turn["fallback"] and time.perf_counter() - started < 5.0


def test_malformed_json_from_the_model_server(tmp_path, hash_embedder):
    with TinyOpenAI(mode="garbage") as server:
        assistant = make_assistant(tmp_path, hash_embedder, **openai_settings(server.base_url))
        with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
            turn = ask(http, "wireless mouse")
            assert turn["products"] and turn["fallback"] and cites_the_cards(turn)
            body = wait_for(lambda: model_status(http, "degraded"), "a degraded model status")
            assert http.get("/readyz").status_code == 200 and body["status"] == "degraded"
            assert "last reply failed" in body["model"]["reason"]
            server.mode = "ok"
            assert ask(http, "wireless mouse")["used_model"]
            assert wait_for(lambda: model_status(http, "ok"), "the model to recover")


def test_malformed_tool_calls_use_the_rules_reading(tmp_path, hash_embedder):
    with TinyOpenAI(mode="bad_tool") as server:
        assistant = make_assistant(tmp_path, hash_embedder, agent_tool_calls="always",
                                   **openai_settings(server.base_url))
        with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
            turn = ask(http, "wireless mouse under 30 dollars")
            assert any(r.get("tools") for r in server.requests), "the model was never asked for a tool call"
            assert any("no valid search call" in n or "tool call failed" in n for n in turn["notes"])
            assert turn["filters"]["price_max"] == 30 and turn["products"]
            assert all(p["price"] <= 30 for p in turn["products"])
            assert turn["fallback"] and "tool call" in turn["fallback"] and "<tool_call>" not in turn["reply"]


@pytest.fixture(scope="module")
def healthy_model():
    """Settings pointing at a healthy tiny model server (the store and database faults are the subject)."""
    with TinyOpenAI() as server:
        yield openai_settings(server.base_url)


# --- the catalog store ----------------------------------------------------------------------------------------------
def _break_store(chroma: Path, how: str) -> None:
    if how == "deleted":
        shutil.rmtree(chroma)
    else:
        with (chroma / "chroma.sqlite3").open("r+b") as fh:
            fh.truncate(100)


def _catalog(http: httpx.Client) -> dict:
    return ready(http)[1]["components"]["catalog"]


@pytest.mark.parametrize("how", ["deleted", "truncated"])
def test_broken_vector_store_under_a_running_app(tmp_path, hash_embedder, healthy_model, how):
    assistant = make_assistant(tmp_path, hash_embedder, **healthy_model)
    chroma = tmp_path / "catalog" / "chroma"
    backup = tmp_path / "backup"
    with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        before = http.post("/v1/analyze", json={"query": "wireless mouse"}).json()
        assert before["notes"] == [] and _catalog(http)["status"] == "ok"
        shutil.copytree(chroma, backup)
        _break_store(chroma, how)
        catalog = wait_for(lambda: (c := _catalog(http))["status"] == "degraded" and c, "a degraded catalog")
        assert catalog["reason"].startswith("vector store unavailable") and catalog["products"] == len(CATALOG)
        assert http.get("/readyz").status_code == 200 and ready(http)[1]["status"] == "degraded"
        after = http.post("/v1/analyze", json={"query": "wireless mouse"})
        assert after.status_code == 200
        assert [h["product"]["id"] for h in after.json()["products"]][:3] == \
            [h["product"]["id"] for h in before["products"]][:3]
        assert any("catalog degraded" in n for n in after.json()["notes"])
        turn = ask(http, "wireless mouse")
        assert turn["products"] and any("catalog degraded" in n for n in turn["notes"])
        shutil.rmtree(chroma, ignore_errors=True)
        shutil.copytree(backup, chroma)
        wait_for(lambda: _catalog(http)["status"] == "ok", "the catalog to recover")
        assert http.post("/v1/analyze", json={"query": "wireless mouse"}).json()["notes"] == []


@pytest.mark.parametrize("how", ["deleted", "truncated"])
def test_broken_vector_store_at_start_then_reingested(tmp_path, hash_embedder, small_catalog, healthy_model, how):
    first = make_assistant(tmp_path, hash_embedder, **healthy_model)
    assert first.store.count() == len(CATALOG)
    first.store._degrade("closing before the files go")  # release chromadb's handles, as a stopped process would
    chroma = tmp_path / "catalog" / "chroma"
    _break_store(chroma, how)
    assistant = make_assistant(tmp_path, hash_embedder, **healthy_model)
    with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        code, body = ready(http)
        assert code == 200 and body["status"] == "degraded" and body["products"] == len(CATALOG)
        assert body["components"]["catalog"]["reason"].startswith("vector store unavailable")
        hits = http.post("/v1/analyze", json={"query": "wireless mouse"}).json()["products"]
        assert hits and "mouse" in hits[0]["product"]["title"].lower()
        if how == "deleted":
            assert not (chroma / "chroma.sqlite3").exists()  # no empty store was made over the catalog
        else:
            with pytest.raises(CatalogError, match="move a corrupt store directory away"):
                assistant.store.upsert(small_catalog)
            shutil.move(chroma, tmp_path / "corrupt-chroma")
        assistant.store.upsert(small_catalog)
        code, body = ready(http)
        assert code == 200 and body["status"] == "ready" and body["products"] == len(small_catalog)


def test_readyz_is_503_when_no_catalog_can_be_served(tmp_path, hash_embedder, healthy_model):
    assistant = make_assistant(tmp_path, hash_embedder, **healthy_model)
    assistant.store._degrade("closing before the files go")
    shutil.rmtree(tmp_path / "catalog" / "index")
    _break_store(tmp_path / "catalog" / "chroma", "truncated")
    broken = make_assistant(tmp_path, hash_embedder, ingest=False, **healthy_model)
    with running_api(create_app(broken)) as url, httpx.Client(base_url=url, timeout=60) as http:
        code, body = ready(http)
        assert code == 503 and body["status"] == "unavailable" and "catalog" in body["reason"]
        error = http.post("/v1/analyze", json={"query": "wireless mouse"})
        assert error.status_code == 503 and error.headers["retry-after"] == "5"
        assert "catalog store" in error.json()["error"]["message"]


# --- the history database -------------------------------------------------------------------------------------------
def _lock_exclusively(db: Path) -> sqlite3.Connection:
    """Another connection that takes the database's exclusive lock and keeps it: writers wait (in WAL mode
    readers still see the last committed state)."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO schema_version (id, version) VALUES (99, 0)")
    return holder


def test_locked_history_database(tmp_path, hash_embedder, healthy_model):
    assistant = make_assistant(tmp_path, hash_embedder, history_wait_s=0.5, **healthy_model)
    event = {"user_id": "u1", "type": "view", "product_id": "m1"}
    with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/v1/events", json=event).status_code == 201
        holder = _lock_exclusively(tmp_path / "history.db")
        try:
            started = time.perf_counter()
            refused = http.post("/v1/events", json=[event, event])
            waited = time.perf_counter() - started
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "locked" in refused.json()["error"]["message"] and "nothing was written" in refused.text
            assert waited < 10
            turn = ask(http, "wireless mouse", user_id="u1")
            assert turn["products"] and any("could not record the search" in n for n in turn["notes"])
            code, body = ready(http)
            assert code == 200 and body["status"] == "degraded"
            assert body["components"]["history"]["status"] == "unavailable"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        stored = http.post("/v1/events", json=[event, event])
        assert stored.status_code == 201 and len(stored.json()["ids"]) == 2
        assert ready(http)[1]["components"]["history"]["status"] == "ok"
        assert not any("history" in n for n in ask(http, "wireless mouse", user_id="u1")["notes"])
    assert assistant.history.count_events("u1") == 3 + 1  # 3 views and the search of the last turn
