"""Operations side of the HTTP API: the model's cached health, the background warm-up, the readiness answer and
the request metrics middleware."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import Match

from assistant.app import Assistant
from assistant.errors import ShopqueryError
from assistant.metrics import ApiMetrics

log = logging.getLogger("shopquery.api")


class ModelHealth:
    """The chat model's status, cached: checked once (in the background) and again when stale or after a turn
    whose model call failed. A check loads the embedded model once or asks the server for its models."""

    def __init__(self, assistant: Assistant, ttl_s: float = 60.0):
        self.assistant = assistant
        self.ttl_s = ttl_s
        self.status, self.reason, self.checked = "unknown", "not checked yet", None
        self._running = threading.Lock()

    def check(self) -> None:
        """Check now (blocking)."""
        try:
            ready = getattr(self.assistant.chat_model, "ensure_ready", None)
            if ready is not None:
                ready()
            self._set("ok", None)
        except ShopqueryError as exc:
            self._set("unavailable", str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure to load or reach the model is reported
            self._set("unavailable", f"{type(exc).__name__}: {exc}")

    def _set(self, status: str, reason: str | None) -> None:
        self.status, self.reason, self.checked = status, reason, time.monotonic()

    def _check_once(self) -> None:
        try:
            self.check()
        finally:
            self._running.release()

    def snapshot(self) -> dict[str, Any]:
        """The cached status; starts a background check when it is missing or stale (never waits for one)."""
        stale = self.checked is None or time.monotonic() - self.checked > self.ttl_s
        if stale and self._running.acquire(blocking=False):
            threading.Thread(target=self._check_once, name="shopquery-model-check", daemon=True).start()
        age = None if self.checked is None else round(time.monotonic() - self.checked, 1)
        return {"status": self.status, "reason": self.reason, "checked_s_ago": age}

    def observe(self, turn: Any) -> None:
        """Learn from a turn: a model reply means ok; a failed model call means check again."""
        if turn.used_model:
            self._set("ok", None)
        elif any(s.kind == "model" and s.error for s in turn.trace):
            self.checked = None


class Warmup:
    """Loads the catalog (the demo catalog when the store is empty), the fast-path components, the agent and the
    model in a background thread, so the server answers /healthz at once and /readyz when it is done."""

    def __init__(self, assistant: Assistant, health: ModelHealth):
        self.assistant = assistant
        self.health = health
        self.state, self.reason = "not started", None

    def start(self) -> None:
        """Begin warming up."""
        self.state = "running"
        threading.Thread(target=self._run, name="shopquery-warm-up", daemon=True).start()

    def _run(self) -> None:
        a = self.assistant
        try:
            if a.ensure_catalog(progress=False) is not None:
                a.ensure_demo_users()
            seconds = a.warm_up(model=True)
            _ = a.agent
            log.info("warmed up in %.1f s", seconds)
            self.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported by /readyz with its reason
            log.exception("warm-up failed")
            self.state, self.reason = "failed", f"{type(exc).__name__}: {exc}"
        self.health.check()


def readiness(api: Any) -> JSONResponse:
    """The /readyz answer: 200 when the catalog is loaded and has products; the model's cached status."""
    from assistant.llm import describe_model

    model = api.health.snapshot() | {"backend": describe_model(api.settings)}
    if api.warmup.state in ("running", "failed"):
        reason = "warming up" if api.warmup.state == "running" else api.warmup.reason
        return JSONResponse({"status": api.warmup.state, "reason": reason, "model": model}, status_code=503)
    try:
        products = len(api.assistant.store.index.products)
    except ShopqueryError as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc), "model": model}, status_code=503)
    if products == 0:
        return JSONResponse({"status": "empty", "reason": "the catalog is empty: run `shopquery ingest FILE`",
                             "products": 0, "model": model}, status_code=503)
    return JSONResponse({"status": "ready", "products": products, "model": model})


class RequestMetrics:
    """ASGI middleware: counts every request (errors and refusals too) by route template, method and status."""

    def __init__(self, app: Any, api_app: FastAPI, metrics: ApiMetrics):
        self.app = app
        self.api_app = api_app
        self.metrics = metrics

    def _route(self, scope: dict[str, Any]) -> str:
        for route in self.api_app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", "other")
        return "other"

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(self._route(scope), scope["method"], status,
                                         time.perf_counter() - started)
