"""Limits and security defaults of the HTTP API: bounded wait queues for chat turns and the fast path (excess
work refused at once with 503 + Retry-After), the public-bind guard and its explicit override, and no API key in
logs or in the settings' repr."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import pytest
import test_api
from fastapi.testclient import TestClient
from servers import running_api
from test_api import KEY, BlockingModel, _in_thread, assert_clean_error, metric

from assistant.api import create_app
from assistant.api_security import BodyLimit, Bulkhead, SlotsBusy, check_bind
from assistant.settings import Settings, load_settings
from tools.core.errors import ConfigError

REPLY = "Logitech M185 wireless mouse, 19.99 USD."
build = test_api.build  # the API tests' Assistant builder fixture


def _wait_until(fn, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- body limit -----------------------------------------------------------------------------------------------------
def _refuse(total: int, chunk: int, declared: bool, max_bytes: int = 1024) -> tuple[int, int, bool]:
    """Send a body of `total` bytes in chunks through BodyLimit; returns the status, the bytes the middleware had
    read when it answered, and whether the application ran."""
    chunks = [b"x" * min(chunk, total - k) for k in range(0, total, chunk)]
    state = {"read": 0, "read_at_answer": None, "status": None, "app": False}

    async def app(scope, receive, send):
        state["app"] = True

    async def receive():
        if not chunks:
            return {"type": "http.disconnect"}
        body = chunks.pop(0)
        state["read"] += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message):
        if message["type"] == "http.response.start":
            state["status"], state["read_at_answer"] = message["status"], state["read"]

    headers = [(b"content-length", str(total).encode())] if declared else []
    asyncio.run(BodyLimit(app, max_bytes)({"type": "http", "headers": headers}, receive, send))
    return state["status"], state["read_at_answer"], state["app"]


@pytest.mark.parametrize("declared", [True, False])
def test_a_refused_body_is_read_to_its_end_before_the_413(declared):
    # A proxy still sending the body when the replica answers and closes would report a reset as 502.
    assert _refuse(300_000, 16_384, declared) == (413, 300_000, False)
    assert _refuse(1000, 100, declared) == (None, None, True)          # under the limit: the app runs


def test_a_huge_declared_body_is_refused_without_reading_it():
    status, read, ran = _refuse(64 * 1024 * 1024, 1024 * 1024, True)
    assert (status, read, ran) == (413, 0, False)


# --- bounded queues -------------------------------------------------------------------------------------------------
def test_bulkhead_refuses_when_the_queue_is_full_or_the_wait_runs_out():
    async def scenario() -> list[str]:
        gate = Bulkhead(capacity=1, max_queue=1, wait_s=0.3)
        await gate.acquire()
        waiter = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0.05)
        outcomes = []
        started = time.perf_counter()
        try:
            await gate.acquire()
        except SlotsBusy as exc:
            outcomes.append(f"full {exc.status} {exc.headers['Retry-After']} {time.perf_counter() - started < 0.1}")
        try:
            await waiter
        except SlotsBusy:
            outcomes.append("timed out")
        gate.release()
        await gate.acquire()
        outcomes.append(f"free again, busy={gate.busy} waiting={gate.waiting}")
        return outcomes

    assert asyncio.run(scenario()) == ["full 503 1 True", "timed out", "free again, busy=1 waiting=0"]


def test_chat_turns_beyond_the_queue_get_503_at_once(build):
    model = BlockingModel(REPLY, turns=2)
    settings = {"api_model_concurrency": 1, "api_queue_timeout_s": 30, "api_model_queue": 1}
    with TestClient(create_app(build(model=model, **settings))) as c:
        first, out1 = _in_thread(lambda: c.post("/v1/chat", json={"message": "wireless mouse"}))
        assert model.entered.wait(10)
        second, out2 = _in_thread(lambda: c.post("/v1/chat", json={"message": "wireless mouse"}))
        _wait_until(lambda: metric(c.get("/metrics").text, "shopquery_model_slots_waiting") == 1, "a queued turn")
        started = time.perf_counter()
        refused = c.post("/v1/chat", json={"message": "wireless mouse"})
        assert time.perf_counter() - started < 2.0
        error = assert_clean_error(refused, 503, "overloaded")
        assert "1 request(s) are waiting" in error["message"] and int(refused.headers["retry-after"]) >= 1
        model.release.set()
        first.join(30)
        second.join(30)
        metrics = c.get("/metrics").text
    assert out1["r"].status_code == 200 and out2["r"].status_code == 200
    assert metric(metrics, "shopquery_model_slot_rejections_total") == 1


def test_fast_path_beyond_its_queue_gets_503_at_once(build):
    assistant = build(api_fast_concurrency=1, api_fast_queue=0)
    entered, release = threading.Event(), threading.Event()
    real_analyze = assistant.analyze

    def held_analyze(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return real_analyze(*args, **kwargs)

    assistant.analyze = held_analyze
    with TestClient(create_app(assistant)) as c:
        thread, out = _in_thread(lambda: c.post("/v1/analyze", json={"query": "wireless mouse"}))
        assert entered.wait(10)
        started = time.perf_counter()
        refused = c.post("/v1/analyze", json={"query": "wireless mouse"})
        assert time.perf_counter() - started < 2.0
        assert "fast-path slot" in assert_clean_error(refused, 503, "overloaded")["message"]
        assert refused.headers["retry-after"] == "1"
        release.set()
        thread.join(30)
        assert out["r"].status_code == 200 and out["r"].json()["products"]
        assert c.post("/v1/analyze", json={"query": "wireless mouse"}).status_code == 200
        metrics = c.get("/metrics").text
    assert metric(metrics, "shopquery_fast_slot_rejections_total") == 1


# --- binding --------------------------------------------------------------------------------------------------------
def test_public_bind_without_keys_needs_the_explicit_override(monkeypatch):
    with pytest.raises(ConfigError, match="SHOPQUERY_API_ALLOW_PUBLIC_WITHOUT_KEYS"):
        check_bind("0.0.0.0", [])
    assert check_bind("0.0.0.0", [], allow_without_keys=True) is True
    assert check_bind("127.0.0.1", [], allow_without_keys=True) is False
    assert check_bind("::", Settings(api_keys=[KEY]).api_keys) is False
    monkeypatch.setenv("SHOPQUERY_API_ALLOW_PUBLIC_WITHOUT_KEYS", "true")
    assert load_settings().api_allow_public_without_keys is True


# --- secrets ----------------------------------------------------------------------------------------------------------
def test_settings_repr_hides_every_secret():
    settings = Settings(api_keys=[KEY], llm_api_key="sk-live-abcdef0123456789")
    for text in (repr(settings), str(settings)):
        assert KEY not in text and "sk-live-abcdef0123456789" not in text


@pytest.mark.integration
def test_no_api_key_reaches_the_logs(build, caplog):
    wrong = "w" * 24
    assistant = build(api_keys=[KEY])
    caplog.set_level(logging.DEBUG)
    with running_api(create_app(assistant), log_level="debug", access_log=True) as url, \
            httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v1/analyze", json={"query": "mouse"},
                         headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert http.post("/v1/chat", json={"message": "mouse"}, headers={"X-API-Key": KEY}).status_code == 200
        assert http.post("/v1/analyze", json={"query": "mouse"}, headers={"X-API-Key": wrong}).status_code == 401
        assert http.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    logged = caplog.text
    assert "POST /v1/analyze" in logged, "the access log was not captured"
    assert KEY not in logged and wrong not in logged
