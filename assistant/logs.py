"""Logging for the HTTP API: one JSON object per line (python-json-logger) carrying the request id of the request
being served, and an access line per request from a middleware (method, route path, status, duration; never
headers, so API keys cannot reach the logs). The request id comes from the `X-Request-Id` header when it is a
sane token, else it is made up; it is sent back in the response's `X-Request-Id`."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

REQUEST_ID = contextvars.ContextVar("shopquery_request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
access_log = logging.getLogger("shopquery.access")


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach `request_id`; never drops a record."""
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> logging.Handler:
    """Root logging for `shopquery serve`: JSON lines (or plain text) on stderr (or `stream`), with the request
    id; returns the handler."""
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                           rename_fields={"asctime": "time", "levelname": "level",
                                                          "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return handler


class RequestIds:
    """ASGI middleware: a request id per request (from `X-Request-Id` or new), in the logging context, in the
    response header, and one access log line when the response is done."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started, status = time.perf_counter(), 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info("%s %s %d", scope["method"], scope["path"], status,
                            extra={"method": scope["method"], "path": scope["path"], "status": status,
                                   "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
            REQUEST_ID.reset(token)
