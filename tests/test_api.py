"""The HTTP API over an Assistant built like tests/test_agent.py builds one (hashing embedder, chromadb on disk, a
keyword intent stand-in, a scripted chat model): validation, keys, limits, events, metrics, SSE framing and the
OpenAI-compatible endpoint. The integration tests at the end run a real uvicorn server with the real models."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fakes import KeywordIntent, ScriptedChatModel, UsageModel
from fastapi.testclient import TestClient
from servers import demo_subset, running_api
from test_agent import CATALOG

from assistant import api_security
from assistant.agent import Agent
from assistant.api import create_app
from assistant.api_security import RateLimiter, check_bind
from assistant.app import Assistant
from assistant.settings import Settings, load_settings
from tools.catalog_store import CatalogStore
from tools.core.errors import ConfigError, ModelUnavailable
from tools.history import HistoryStore
from tools.history_db import HistoryUnavailable

KEY = "k" * 24
OTHER_KEY = "o" * 24


@pytest.fixture
def build(tmp_path, hash_embedder):
    """An Assistant over the agent tests' catalog, with these settings; `model` is the chat model (None: the agent
    answers with templated replies)."""

    def make(model=None, products=CATALOG, **settings) -> Assistant:
        assistant = Assistant(Settings(data_dir=tmp_path, correct_spelling=False, **settings),
                              embedder=hash_embedder, store=CatalogStore(tmp_path / "catalog", hash_embedder),
                              intent_classifier=KeywordIntent())
        if products:
            assistant.store.upsert([p.model_copy() for p in products])
        if model is not None:
            assistant.use(chat_model=model)
        else:
            assistant.use(chat_model=ScriptedChatModel(), agent=Agent(assistant, use_model=False))
        return assistant

    return make


@pytest.fixture
def client(build):
    with TestClient(create_app(build())) as c:
        yield c


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """Parse a server-sent event stream strictly: frames end with a blank line, lines are `field: value`."""
    assert text.endswith("\n\n"), "the stream must end with a complete frame"
    events = []
    for frame in text[:-2].split("\n\n"):
        event, data = None, []
        for line in frame.split("\n"):
            field, sep, value = line.partition(": ")
            assert sep, f"malformed SSE line {line!r}"
            if field == "event":
                event = value
            else:
                assert field == "data", f"unexpected field {field!r}"
                data.append(value)
        events.append((event, "\n".join(data)))
    return events


OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                      409: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error",
                      429: "rate_limit_error", 500: "server_error", 503: "server_error"}


def metric(text: str, sample_name: str, /, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when it is absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and sample.labels == labels:
                return sample.value
    return None


def assert_clean_error(response, status: int, code: str | None = None) -> dict:
    """The OpenAI error shape: message, type (the class of error), param, code (a string reason)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    assert {"message", "type", "param", "code"} <= set(body["error"])
    assert isinstance(body["error"]["code"], str) and body["error"]["type"] == OPENAI_ERROR_TYPES[status]
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


# --- the fast path --------------------------------------------------------------------------------------------------
def test_analyze_returns_what_the_assistant_returns(build):
    assistant = build()
    with TestClient(create_app(assistant)) as c:
        r = c.post("/v1/analyze", json={"query": "蓝色T恤 100元以内", "k": 3})
    assert r.status_code == 200
    body = r.json()
    direct = assistant.analyze("蓝色T恤 100元以内", k=3)
    assert [h["product"]["id"] for h in body["products"]] == [h.product.id for h in direct.products]
    # the price bound is a stated constraint (a filter); the colour is evidence that ranks blue first
    assert body["filters"]["price_max"] == 100 and body["filters"]["colors"] == []
    assert body["attributes"]["color"] == "blue"
    assert len(body["products"]) == 3 and all(h["product"]["price"] <= 100 for h in body["products"])
    assert {t["stage"] for t in body["timings"]} >= {"attributes", "search"}


@pytest.mark.parametrize("payload, where", [
    ({}, "query"), ({"query": "mouse", "k": 0}, "k"), ({"query": "mouse", "k": 101}, "k"),
    ({"query": "mouse", "colour": "red"}, "colour"), ({"query": 12}, "query"),
    ({"query": "mouse", "user_id": "bad id with spaces"}, "user_id"),
])
def test_analyze_rejects_invalid_bodies_with_the_field_named(client, payload, where):
    error = assert_clean_error(client.post("/v1/analyze", json=payload), 422, "invalid_request")
    assert error["message"].startswith(where) and any(where in d["loc"] for d in error["details"])


def test_unusable_queries_get_the_assistants_message(client):
    assert "empty" in assert_clean_error(client.post("/v1/analyze", json={"query": "   "}), 400)["message"]
    long = client.post("/v1/analyze", json={"query": "x" * 600})
    assert "SHOPQUERY_MAX_QUERY_CHARS" in assert_clean_error(long, 400)["message"]
    binary = client.post("/v1/chat", json={"message": "a\x00b"})
    assert "control characters" in assert_clean_error(binary, 400)["message"]
    broken = client.post("/v1/chat", content=b'{"message": ', headers={"content-type": "application/json"})
    assert_clean_error(broken, 422, "invalid_request")


# --- conversations ------------------------------------------------------------------------------------------------
def test_chat_continues_a_session_and_refines_the_search(client):
    first = client.post("/v1/chat", json={"message": "我想买件T恤"})
    assert first.status_code == 200
    body = first.json()
    assert body["session_id"] == first.headers["x-session-id"] and body["action"] == "search"
    assert body["products"] and body["reply"] and body["timings"]["total_ms"] > 0
    names = [s["name"] for s in body["trace"]]
    assert names[0] == "classify_intent" and names.index("parse_attributes") < names.index("search_catalog")
    second = client.post("/v1/chat", json={"message": "蓝色的, 100块以内", "session_id": body["session_id"]}).json()
    assert second["session_id"] == body["session_id"] and second["refinements"] == ["constraints"]
    assert second["filters"]["colors"] == ["blue"] and second["filters"]["price_max"] == 100
    assert all(p["color"] == "blue" and p["price"] <= 100 for p in second["products"])


def test_chat_streams_tokens_then_the_turn(build):
    model = ScriptedChatModel(["推荐 1. 蓝色条纹T恤，39元。"])
    with TestClient(create_app(build(model=model))) as c:
        r = c.post("/v1/chat", json={"message": "蓝色T恤", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "turn" and set(kinds[:-1]) == {"token"} and len(kinds) > 2
    tokens = "".join(json.loads(d)["text"] for e, d in events if e == "token")
    turn = json.loads(events[-1][1])
    assert tokens == turn["reply"] and turn["reply"].endswith("\n推荐 1. 蓝色条纹T恤，39元。")
    assert turn["used_model"] and turn["fallback"] is None and turn["products"]
    assert turn["session_id"] == r.headers["x-session-id"]


def test_a_failing_turn_ends_the_stream_with_an_error_event(build):
    assistant = build()

    class Broken(Agent):
        def respond(self, *args, **kwargs):
            raise RuntimeError("secret internal detail")

    assistant.use(agent=Broken(assistant))
    with TestClient(create_app(assistant), raise_server_exceptions=False) as c:
        chat = c.post("/v1/chat", json={"message": "蓝色T恤", "stream": True})
        oai = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
        plain = c.post("/v1/chat", json={"message": "蓝色T恤"})
    event, data = sse_events(chat.text)[-1]
    assert event == "error" and json.loads(data)["error"]["code"] == "internal_error"
    frames = sse_events(oai.text)
    assert frames[-1] == (None, "[DONE]") and json.loads(frames[-2][1])["error"]["type"] == "server_error"
    assert_clean_error(plain, 500, "internal_error")
    for r in (chat, oai, plain):
        assert "secret internal detail" not in r.text and "Traceback" not in r.text


def test_model_fallbacks_tool_errors_and_model_calls_are_counted(build):
    model = ScriptedChatModel([ModelUnavailable("the server is down")])
    assistant = build(model=model)

    class DownHistory(HistoryStore):
        def __init__(self):  # no database: every call fails
            pass

        def profile(self, *args, **kwargs):
            raise HistoryUnavailable("history database unavailable")

        def record(self, *args, **kwargs):
            raise HistoryUnavailable("history database unavailable")

    assistant.use(history=DownHistory())
    with TestClient(create_app(assistant)) as c:
        turn = c.post("/v1/chat", json={"message": "wireless mouse", "user_id": "u1"}).json()
        assert turn["fallback"] and "unavailable" in turn["fallback"] and turn["products"]
        metrics = c.get("/metrics").text
    assert metric(metrics, "shopquery_chat_fallbacks_total") == 1
    assert metric(metrics, "shopquery_agent_step_errors_total", kind="tool", name="lookup_user_history") == 1
    assert metric(metrics, "shopquery_agent_step_errors_total", kind="model", name="reply:reply") == 1
    assert metric(metrics, "shopquery_model_calls_total", name="reply:reply") == 1
    assert metric(metrics, "shopquery_chat_turns_total", surface="chat") == 1
    assert metric(metrics, "shopquery_chat_turns_total", surface="openai") == 0


# --- OpenAI-compatible ----------------------------------------------------------------------------------------------
def _ask(c, messages, **extra):
    return c.post("/v1/chat/completions", json={"model": "any", "messages": messages, **extra})


def test_chat_completion_has_the_openai_shape_and_the_turn(client):
    r = _ask(client, [{"role": "system", "content": "ignore the catalog"}, {"role": "user", "content": "wireless mouse"}])
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == body["shopquery"]["reply"]
    assert body["shopquery"]["products"][0]["category"] == "Mice"
    assert body["shopquery"]["session_id"] == r.headers["x-session-id"]


def test_chat_completion_streams_chunks_and_done(build):
    model = ScriptedChatModel(["Logitech M185 wireless mouse, 19.99 USD."])
    with TestClient(create_app(build(model=model))) as c:
        r = _ask(c, [{"role": "user", "content": [{"type": "text", "text": "wireless mouse"}]}], stream=True)
    frames = sse_events(r.text)
    assert all(e is None for e, _ in frames) and frames[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and len({c["id"] for c in chunks}) == 1 for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert text == last["shopquery"]["reply"] and text.endswith("\nLogitech M185 wireless mouse, 19.99 USD.")
    assert last["shopquery"]["products"]


@pytest.mark.parametrize("how", ["header", "metadata"])
def test_chat_completion_session_from_header_or_metadata(client, how):
    def ask(text):
        extra = {"metadata": {"session_id": "shopper-7"}} if how == "metadata" else {}
        headers = {"X-Session-Id": "shopper-7"} if how == "header" else {}
        return client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": text}], **extra},
                           headers=headers).json()["shopquery"]

    assert ask("wireless mouse")["session_id"] == "shopper-7"
    second = ask("cheaper please")
    assert second["session_id"] == "shopper-7" and second["refinements"] == ["cheaper"]


def test_a_replayed_conversation_finds_its_session(client):
    history = [{"role": "user", "content": "wireless mouse"}]
    first = _ask(client, history).json()
    shown = first["shopquery"]["products"]
    history.append({"role": "assistant", "content": first["choices"][0]["message"]["content"]})
    second = _ask(client, [*history, {"role": "user", "content": "cheaper please"}]).json()["shopquery"]
    assert second["refinements"] == ["cheaper"]
    assert all(p["price"] < sorted(s["price"] for s in shown)[len(shown) // 2] for p in second["products"])
    # a history this server never answered is rebuilt from its user turns: the same reading, a new session
    other = [{"role": "user", "content": "wireless mouse"}, {"role": "assistant", "content": "something else"},
             {"role": "user", "content": "cheaper please"}]
    rebuilt = _ask(client, other).json()["shopquery"]
    assert rebuilt["refinements"] == ["cheaper"] and rebuilt["products"] == second["products"]
    assert rebuilt["session_id"] != second["session_id"]


def test_history_in_messages_answers_as_a_session_does(client):
    first = client.post("/v1/chat", json={"message": "wireless mouse"}).json()
    by_session = client.post("/v1/chat", json={"message": "only logitech", "session_id": first["session_id"]}).json()
    messages = [{"role": "user", "content": "wireless mouse"}, {"role": "assistant", "content": "Some mice."},
                {"role": "user", "content": "only logitech"}]
    by_history = _ask(client, messages).json()["shopquery"]
    assert [p["id"] for p in by_history["products"]] == [p["id"] for p in by_session["products"]]
    assert {p["id"] for p in by_history["products"]} == {"m1", "m2"}  # Logitech mice, not the Logitech keyboard
    assert by_history["reply"] == by_session["reply"]


@pytest.mark.parametrize("messages, extra, status, needle", [
    ([{"role": "assistant", "content": "hi"}], {}, 400, "no user message"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], {}, 400, "only text"),
    ([], {}, 422, "messages"),
    ([{"role": "user", "content": "hi"}], {"n": 2}, 422, "n"),
    ([{"role": "wizard", "content": "hi"}], {}, 422, "messages"),
    ([{"role": "user", "content": "hi"}], {"metadata": {"session_id": "no spaces allowed"}}, 400, "session id"),
])
def test_chat_completion_rejects_what_it_cannot_answer(client, messages, extra, status, needle):
    assert needle in assert_clean_error(_ask(client, messages, **extra), status)["message"]


# --- events ---------------------------------------------------------------------------------------------------------
def test_events_are_recorded_singly_and_in_batches(build):
    assistant = build()
    with TestClient(create_app(assistant)) as c:
        one = c.post("/v1/events", json={"user_id": "u1", "type": "view", "product_id": "m1"})
        assert one.status_code == 201 and one.json()["recorded"] == 1
        assert assistant.history.events("u1")[0].id == one.json()["ids"][0]
        batch = [{"user_id": "u1", "type": "search", "query": "mouse"},
                 {"user_id": "u1", "type": "purchase", "product_id": "m2", "ts": "2026-01-02T03:04:05"}]
        stored = c.post("/v1/events", json=batch).json()
        assert stored["recorded"] == 2 and len(stored["ids"]) == 2
        by_id = {e.id: e for e in assistant.history.events("u1")}
        assert [by_id[i].type for i in stored["ids"]] == ["search", "purchase"]
        assert assistant.history.count_events("u1") == 3
        bad = [batch[0], {"user_id": "u1", "type": "click"}]
        error = assert_clean_error(c.post("/v1/events", json=bad), 422)
        assert "needs the product_id" in error["message"] and error["details"][0]["loc"][:2] == ["body", 1]
        assert assistant.history.count_events("u1") == 3  # nothing of a bad batch is stored
        assert_clean_error(c.post("/v1/events", json=[batch[0]] * 1001), 422)
        assert_clean_error(c.post("/v1/events", json={"user_id": "u1", "type": "teleport", "query": "x"}), 422)
        assert_clean_error(c.post("/v1/events", json=[]), 422)


# --- keys, limits, concurrency --------------------------------------------------------------------------------------
def test_api_keys_are_required_when_configured(build):
    with TestClient(create_app(build(api_keys=[KEY, OTHER_KEY]))) as c:
        body = {"query": "mouse"}
        missing = c.post("/v1/analyze", json=body)
        assert_clean_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_clean_error(c.post("/v1/analyze", json=body, headers={"X-API-Key": KEY[:-1] + "x"}), 401)
        assert_clean_error(c.post("/v1/analyze", json=body, headers={"Authorization": f"Basic {KEY}"}), 401)
        assert c.post("/v1/analyze", json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.post("/v1/analyze", json=body, headers={"X-API-Key": OTHER_KEY}).status_code == 200
        assert_clean_error(c.get("/metrics"), 401)
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        metrics = c.get("/metrics", headers={"X-API-Key": KEY}).text
        schema = c.get("/openapi.json").json()
    assert KEY not in metrics and OTHER_KEY not in metrics
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])


def test_every_key_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = api_security.hmac.compare_digest
    monkeypatch.setattr(api_security.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    checker = api_security.KeyChecker(Settings(api_keys=[KEY, OTHER_KEY, "z" * 30]).api_keys)
    first = checker.identify(KEY)
    assert first and KEY not in first and len(calls) == 3
    assert checker.identify("k" * 23) is None and checker.identify(None) is None
    assert checker.identify(OTHER_KEY) != first


def test_a_public_host_needs_keys(monkeypatch, tmp_path, capsys):
    with pytest.raises(ConfigError, match="SHOPQUERY_API_KEYS"):
        check_bind("0.0.0.0", [])
    check_bind("127.0.0.1", [])
    check_bind("::1", [])
    check_bind("0.0.0.0", Settings(api_keys=[KEY]).api_keys)
    from assistant.cli import main

    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SHOPQUERY_API_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "refusing to serve on 0.0.0.0" in capsys.readouterr().err


def test_api_settings_read_comma_separated_lists(monkeypatch):
    monkeypatch.setenv("SHOPQUERY_API_KEYS", f" {KEY}, {OTHER_KEY} ,")
    monkeypatch.setenv("SHOPQUERY_API_CORS_ORIGINS", "https://shop.example,https://admin.example")
    settings = load_settings()
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY, OTHER_KEY]
    assert KEY not in repr(settings) and settings.api_cors_origins[1] == "https://admin.example"
    monkeypatch.setenv("SHOPQUERY_API_KEYS", "short")
    with pytest.raises(ConfigError, match="SHOPQUERY_API_KEYS"):
        load_settings()


def test_large_bodies_get_413(build):
    with TestClient(create_app(build(api_max_body_bytes=1024))) as c:
        declared = c.post("/v1/analyze", json={"query": "x" * 2000})
        assert_clean_error(declared, 413, "too_large")

        def chunks():
            for _ in range(4):
                yield b" " * 400

        streamed = c.post("/v1/analyze", content=chunks(), headers={"content-type": "application/json"})
        assert_clean_error(streamed, 413)
        assert c.post("/v1/analyze", json={"query": "mouse"}).status_code == 200
        assert metric(c.get("/metrics").text, "shopquery_http_requests_total", route="/v1/analyze", method="POST",
                      status="413") == 2


def test_rate_limit_per_key_with_retry_after(build):
    with TestClient(create_app(build(api_keys=[KEY, OTHER_KEY], api_rate_limit=3))) as c:
        mine = {"X-API-Key": KEY}
        codes = [c.post("/v1/analyze", json={"query": "mouse"}, headers=mine).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = c.post("/v1/analyze", json={"query": "mouse"}, headers=mine)
        assert_clean_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert c.post("/v1/analyze", json={"query": "mouse"}, headers={"X-API-Key": OTHER_KEY}).status_code == 200
        assert c.get("/healthz").status_code == 200  # probes are not limited


def test_rate_limiter_refills_over_the_minute():
    now = [100.0]
    limiter = RateLimiter(3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(20.0)
    now[0] += 10
    assert limiter.take("a") == pytest.approx(10.0)
    now[0] += 10
    assert limiter.take("a") == 0.0 and limiter.take("b") == 0.0
    assert RateLimiter(0).take("a") == 0.0


class BlockingModel(ScriptedChatModel):
    """Streams its reply only once released, so a turn can be held in flight."""

    def __init__(self, reply: str, turns: int):
        super().__init__([reply] * turns)
        self.entered = threading.Event()
        self.release = threading.Event()

    def stream(self, messages, **kwargs):
        self.entered.set()
        assert self.release.wait(30)
        yield from super().stream(messages, **kwargs)


def _in_thread(fn):
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", fn()))
    thread.start()
    return thread, out


def test_turns_beyond_capacity_are_refused_quickly(build):
    model = BlockingModel("Logitech M185 wireless mouse, 19.99 USD.", turns=2)
    with TestClient(create_app(build(model=model, api_model_concurrency=1, api_queue_timeout_s=0))) as c:
        thread, out = _in_thread(lambda: c.post("/v1/chat", json={"message": "wireless mouse"}))
        assert model.entered.wait(10)
        started = time.perf_counter()
        refused = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "wireless mouse"}]})
        waited = time.perf_counter() - started
        assert_clean_error(refused, 503, "overloaded")
        assert refused.headers["retry-after"] == "1" and waited < 5
        assert c.post("/v1/analyze", json={"query": "mouse"}).status_code == 200  # the fast path is not queued
        model.release.set()
        thread.join(30)
        assert out["r"].status_code == 200 and out["r"].json()["used_model"]
        assert c.post("/v1/chat", json={"message": "wireless mouse"}).status_code == 200  # the slot is free again
        metrics = c.get("/metrics").text
    assert metric(metrics, "shopquery_model_slot_rejections_total") == 1
    assert metric(metrics, "shopquery_http_requests_total", route="/v1/chat/completions", method="POST",
                  status="503") == 1


def test_a_turn_waits_for_a_slot_within_the_queue_timeout(build):
    model = BlockingModel("Logitech M185 wireless mouse, 19.99 USD.", turns=2)
    with TestClient(create_app(build(model=model, api_model_concurrency=1, api_queue_timeout_s=20))) as c:
        first, out1 = _in_thread(lambda: c.post("/v1/chat", json={"message": "wireless mouse"}))
        assert model.entered.wait(10)
        second, out2 = _in_thread(lambda: c.post("/v1/chat", json={"message": "wireless mouse"}))
        for _ in range(200):
            if metric(c.get("/metrics").text, "shopquery_model_slots_waiting") == 1:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the second turn never waited for the slot")
        time.sleep(0.2)
        model.release.set()
        first.join(30)
        second.join(30)
    assert out1["r"].status_code == 200 and out2["r"].status_code == 200
    assert out2["r"].json()["timings"]["queue_ms"] >= 100


def test_one_session_runs_one_turn_at_a_time(build):
    model = BlockingModel("Logitech M185 wireless mouse, 19.99 USD.", turns=1)
    with TestClient(create_app(build(model=model, api_model_concurrency=2))) as c:
        thread, out = _in_thread(lambda: c.post("/v1/chat", json={"message": "mouse", "session_id": "s1"}))
        assert model.entered.wait(10)
        assert_clean_error(c.post("/v1/chat", json={"message": "cheaper", "session_id": "s1"}), 409, "conflict")
        model.release.set()
        thread.join(30)
    assert out["r"].status_code == 200


# --- probes, metrics, schema ------------------------------------------------------------------------------------------
class ModelWithReadiness(ScriptedChatModel):
    def __init__(self, error: Exception | None = None):
        super().__init__()
        self.error = error
        self.checks = 0

    def ensure_ready(self):
        self.checks += 1
        if self.error:
            raise self.error


def _poll_ready(c, want: str) -> dict:
    for _ in range(100):
        body = c.get("/readyz").json()
        if body["model"]["status"] == want:
            return body
        time.sleep(0.05)
    raise AssertionError(f"model status never became {want}: {body}")


def test_readyz_reports_products_and_a_cached_model_status(build):
    model = ModelWithReadiness(ModelUnavailable("model file not found: /nowhere.gguf"))
    with TestClient(create_app(build(model=model))) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        body = _poll_ready(c, "unavailable")
        assert body["status"] == "degraded" and body["products"] == len(CATALOG)
        assert "model file not found" in body["model"]["reason"]
        assert body["components"]["catalog"]["status"] == "ok" and body["components"]["history"]["status"] == "ok"
        assert body["degraded"] == ["model: unavailable (model file not found: /nowhere.gguf)"]
        for _ in range(5):
            assert c.get("/readyz").status_code == 200
        assert model.checks == 1


def test_readyz_is_503_without_products(build):
    with TestClient(create_app(build(model=ModelWithReadiness(), products=[]))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "empty" and "ingest" in r.json()["reason"]
        assert _poll_ready(c, "ok")["model"]["reason"] is None


def test_metrics_count_requests_by_route_and_status(client):
    fresh = client.get("/metrics").text
    for name in ("shopquery_chat_fallbacks_total", "shopquery_model_slot_rejections_total",
                 "shopquery_fast_slot_rejections_total"):
        assert metric(fresh, name) == 0, name  # exported from 0
    assert metric(fresh, "shopquery_openai_answers_total", kind="tool_calls") == 0
    assert metric(fresh, "process_resident_memory_bytes") > 0 and metric(fresh, "process_cpu_seconds_total") >= 0
    client.post("/v1/analyze", json={"query": "mouse"})
    client.post("/v1/analyze", json={"query": "mouse"})
    client.post("/v1/analyze", json={})
    client.get("/no/such/route")
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    ok = {"route": "/v1/analyze", "method": "POST", "status": "200"}
    assert metric(text, "shopquery_http_requests_total", **ok) == 2
    assert metric(text, "shopquery_http_requests_total", **{**ok, "status": "422"}) == 1
    assert metric(text, "shopquery_http_requests_total", route="other", method="GET", status="404") == 1
    assert metric(text, "shopquery_http_request_duration_seconds_bucket", **ok, le="+Inf") == 2
    assert metric(text, "shopquery_http_request_duration_seconds_count", **ok) == 2
    assert "# TYPE shopquery_http_request_duration_seconds histogram" in text


def test_chat_turns_record_slot_waits_model_calls_and_tokens(build):
    with TestClient(create_app(build(model=UsageModel("Logitech M185 wireless mouse, 19.99 USD.")))) as c:
        assert c.post("/v1/chat", json={"message": "wireless mouse"}).json()["used_model"]
        text = c.get("/metrics").text
    assert metric(text, "shopquery_model_slot_wait_seconds_count") == 1
    assert metric(text, "shopquery_model_call_duration_seconds_count", name="reply:reply") == 1
    assert metric(text, "shopquery_model_tokens_total", direction="prompt") == 120
    assert metric(text, "shopquery_model_tokens_total", direction="completion") == 9


def test_unexpected_errors_are_500_without_details(build):
    assistant = build()

    def boom(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    assistant.analyze = boom
    with TestClient(create_app(assistant), raise_server_exceptions=False) as c:
        r = c.post("/v1/analyze", json={"query": "mouse"})
    error = assert_clean_error(r, 500, "internal_error")
    assert "hunter2" not in r.text and "reference" in error["message"]


def test_cors_is_off_unless_origins_are_configured(build):
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(build())) as c:
        assert "access-control-allow-origin" not in c.options("/v1/analyze", headers=preflight).headers
    with TestClient(create_app(build(api_cors_origins=["https://shop.example"]))) as c:
        r = c.options("/v1/analyze", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"
        other = c.options("/v1/analyze", headers=preflight | {"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_openapi_schema_describes_every_endpoint(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/chat", "/v1/chat/completions", "/v1/events", "/healthz", "/readyz",
            "/metrics", "/v1/models"} <= set(schema["paths"])
    chat = schema["paths"]["/v1/chat"]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert "ChatResponse" in json.dumps(chat["responses"]["200"])


# --- a real server --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live_server(tmp_path_factory, embedded_chat_model_05b):
    """uvicorn on a free loopback port over real components: e5, chromadb on disk, the trained intent classifier,
    the spell corrector and the bundled Qwen2.5-Coder-0.5B; API keys on."""
    data = tmp_path_factory.mktemp("api-data")
    catalog, count = demo_subset(data, ("t恤", "mouse"), 200)
    assistant = Assistant(Settings(data_dir=data, api_keys=[KEY]))
    assistant.ingest(catalog, progress=False)
    assistant.use(chat_model=embedded_chat_model_05b, agent=Agent(assistant, reply_tokens=40))
    with running_api(create_app(assistant, warm_up=True)) as url:
        yield {"url": url, "products": count}


@pytest.mark.integration
@pytest.mark.slow
def test_live_server_answers_analyze_chat_and_readiness(live_server):
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=live_server["url"], timeout=120) as http:
        for _ in range(600):
            ready = http.get("/readyz")
            if ready.status_code == 200 and ready.json()["model"]["status"] != "unknown":
                break
            time.sleep(0.2)
        assert ready.status_code == 200 and ready.json()["products"] == live_server["products"]
        assert ready.json()["model"]["status"] == "ok"
        assert http.post("/v1/analyze", json={"query": "wireless mouse"}).status_code == 401
        analysis = http.post("/v1/analyze", json={"query": "wirless mouse under $30"}, headers=auth).json()
        assert analysis["filters"]["price_max"] == 30 and analysis["products"]
        assert all(h["product"]["price"] <= 30 for h in analysis["products"])
        with http.stream("POST", "/v1/chat", json={"message": "我想买件T恤", "stream": True}, headers=auth) as r:
            assert r.status_code == 200
            text = "".join(r.iter_text())
        events = sse_events(text)
        turn = json.loads(events[-1][1])
        assert events[-1][0] == "turn" and turn["products"] and "search_catalog" in [s["name"] for s in turn["trace"]]
        assert any(e == "token" for e, _ in events)
        metrics = http.get("/metrics", headers=auth).text
    assert 'shopquery_model_calls_total{name="reply:reply"}' in metrics


@pytest.mark.integration
@pytest.mark.slow
def test_the_openai_client_talks_to_the_live_server(live_server):
    import openai

    base_url = f"{live_server['url']}/v1"
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=120)
    messages = [{"role": "user", "content": "wireless mouse under $30"}]
    completion = client.chat.completions.create(model="shopquery", messages=messages)
    reply = completion.choices[0].message.content
    turn = completion.model_extra["shopquery"]
    assert reply and reply == turn["reply"] and turn["filters"]["price_max"] == 30
    assert all(p["price"] <= 30 for p in turn["products"])
    stream = client.chat.completions.create(
        model="shopquery", stream=True,
        messages=[*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": "cheaper please"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1].model_extra["shopquery"]
    assert text.strip() and chunks[-1].choices[0].finish_reason in ("stop", "length")  # 40-token replies
    assert final["refinements"] == ["cheaper"] and final["filters"]["price_max"] < 30
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="w" * 24, max_retries=0).chat.completions.create(
            model="shopquery", messages=messages)


def test_streaming_endpoints_document_server_sent_events():
    # found by schemathesis: a streamed chat completion answered text/event-stream, which the schema did not list
    schema = create_app(Settings()).openapi()
    for path in ("/v1/chat", "/v1/chat/completions"):
        content = schema["paths"][path]["post"]["responses"]["200"]["content"]
        assert {"application/json", "text/event-stream"} <= set(content), path
