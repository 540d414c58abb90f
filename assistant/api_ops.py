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
from assistant.metrics import ApiMetrics
from tools.core.errors import ShopqueryError

log = logging.getLogger("shopquery.api")


class ModelHealth:
    """The chat model's status, cached: checked once (in the background) and again when stale or after a turn
    whose model call failed. A check loads the embedded model once or asks the server for its models. A model
    that answers the check but whose last reply failed (malformed, too slow, rejected) is "degraded" until a turn
    gets a good reply again."""

    def __init__(self, assistant: Assistant, ttl_s: float = 60.0):
        self.assistant = assistant
        self.ttl_s = ttl_s
        self.status: str = "unknown"
        self.reason: str | None = "not checked yet"
        self.checked: float | None = None
        self.turn_error: str | None = None
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
        status, reason = self.status, self.reason
        if status == "ok" and self.turn_error is not None:
            status, reason = "degraded", f"last reply failed: {self.turn_error}"
        return {"status": status, "reason": reason, "checked_s_ago": age}

    def observe(self, turn: Any) -> None:
        """Learn from a turn: a model reply means ok; a failed model call means degraded, and check again."""
        if turn.used_model:
            self.turn_error = None
            self._set("ok", None)
            return
        failed = [s.error for s in turn.trace if s.kind == "model" and s.error]
        if failed:
            self.turn_error = failed[-1]
            self.checked = None


class Warmup:
    """Loads the catalog (the demo catalog when the store is empty), the fast-path components, the agent and the
    model in a background thread, so the server answers /healthz at once and /readyz when it is done."""

    def __init__(self, assistant: Assistant, health: ModelHealth):
        self.assistant = assistant
        self.health = health
        self.state = "not started"
        self.reason: str | None = None

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


def catalog_status(assistant: Assistant) -> dict[str, Any]:
    """The catalog store's status: ok, degraded (served from the on-disk index) or unavailable."""
    try:
        return assistant.store.status()
    except ShopqueryError as exc:
        return {"status": "unavailable", "reason": str(exc), "products": 0}


def history_status(assistant: Assistant) -> dict[str, Any]:
    """The history database's status: ok, or unavailable (cannot be opened, or its write lock is held)."""
    try:
        return assistant.history.health()
    except ShopqueryError as exc:
        return {"status": "unavailable", "reason": str(exc)}


def readiness(api: Any) -> JSONResponse:
    """The /readyz answer. 503 while warming up, when warm-up failed, or when no catalog can be served (store
    unavailable with no on-disk index, or empty). Otherwise 200: "ready" when every component is ok, "degraded"
    when the catalog is served from its on-disk index, the history database is unavailable or the model is
    unavailable (answers then come from the fast path, with a note saying what is missing)."""
    from assistant.llm import describe_model

    model = api.health.snapshot() | {"backend": describe_model(api.settings)}
    if api.warmup.state in ("running", "failed"):
        reason = "warming up" if api.warmup.state == "running" else api.warmup.reason
        return JSONResponse({"status": api.warmup.state, "reason": reason, "model": model}, status_code=503)
    catalog = catalog_status(api.assistant)
    components = {"catalog": catalog, "history": history_status(api.assistant), "model": model}
    for name, part in components.items():
        api.metrics.component_up.labels(component=name).set(1.0 if part["status"] in ("ok", "unknown") else 0.0)
    body: dict[str, Any] = {"products": catalog.get("products", 0), "model": model, "components": components}
    if catalog["status"] == "unavailable":
        return JSONResponse({"status": "unavailable", "reason": f"catalog: {catalog['reason']}", **body},
                            status_code=503)
    if not body["products"]:
        return JSONResponse({"status": "empty", "reason": "the catalog is empty: run `shopquery ingest FILE`",
                             **body}, status_code=503)
    degraded = [f"{name}: {part['status']} ({part['reason']})" for name, part in components.items()
                if part["status"] not in ("ok", "unknown")]
    return JSONResponse({"status": "degraded" if degraded else "ready", "degraded": degraded, **body})


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
