"""Operations: structured JSON logs with the request id, Prometheus metrics scraped over a real server, and the
liveness/readiness split (/healthz at once, /readyz only once the catalog and model are loaded)."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import httpx
import test_api
from fakes import UsageModel
from fastapi.testclient import TestClient
from servers import running_api
from test_api import KEY, metric

from assistant.api import create_app
from assistant.logs import configure_logging

build = test_api.build  # the API tests' Assistant builder fixture


def test_logs_are_json_lines_with_the_request_id_and_no_keys(build):
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    try:
        with TestClient(create_app(build(api_keys=[KEY]))) as c:
            given = c.post("/v1/analyze", json={"query": "mouse"}, headers={"X-API-Key": KEY,
                                                                              "X-Request-Id": "req-42"})
            made = c.post("/v1/analyze", json={"query": "mouse"}, headers={"Authorization": f"Bearer {KEY}",
                                                                             "X-Request-Id": "bad id\n"})
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    assert given.headers["x-request-id"] == "req-42"
    made_id = made.headers["x-request-id"]
    assert made_id != "bad id\n" and len(made_id) == 32
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    access = [entry for entry in lines if entry["logger"] == "shopquery.access"]
    assert [(a["request_id"], a["path"], a["status"]) for a in access] == [
        ("req-42", "/v1/analyze", 200), (made_id, "/v1/analyze", 200)]
    assert all({"time", "level", "message", "duration_ms"} <= set(a) for a in access)
    assert KEY not in buffer.getvalue()


def test_a_scrape_over_a_real_server(build):
    assistant = build(model=UsageModel("Logitech M185 wireless mouse, 19.99 USD."))
    with running_api(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        before = http.get("/metrics").text
        assert metric(before, "shopquery_chat_turns_total", surface="openai") == 0
        http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "wireless mouse"}]})
        http.get("/readyz")
        after = http.get("/metrics")
    text = after.text
    assert after.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert metric(text, "shopquery_chat_turns_total", surface="openai") == 1
    assert metric(text, "shopquery_model_tokens_total", direction="completion") == 9
    assert metric(text, "shopquery_http_request_duration_seconds_count", route="/v1/chat/completions",
                  method="POST", status="200") == 1
    assert metric(text, "shopquery_component_ok", component="catalog") == 1
    assert metric(text, "process_open_fds") > 0 and "python_info{" in text  # process and runtime collectors


def test_healthz_at_once_readyz_only_when_warmed_up(build):
    assistant = build()
    gate = threading.Event()
    real = assistant.warm_up

    def slow_warm_up(model: bool = False) -> float:
        assert gate.wait(30)
        return real(model=False)

    assistant.warm_up = slow_warm_up
    with TestClient(create_app(assistant, warm_up=True)) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        warming = c.get("/readyz")
        assert warming.status_code == 503 and warming.json()["status"] == "running"
        gate.set()
        for _ in range(200):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        assert c.get("/readyz").json()["status"] in ("ready", "degraded")
