"""Guards of the HTTP API: API keys, per-client rate limits, a request body limit and a bounded number of chat
turns running at once. None of them logs or returns a key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import SecretStr

from tools.core.errors import ConfigError

ASGIApp = Callable[..., Any]


class ApiError(Exception):
    """An error the API answers with `{"error": {...}}` and this status."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}
        self.param = param


_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                429: "rate_limit_error"}


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The error object in the OpenAI shape: message, type (the class of error), param, code (the reason)."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"message": message, "type": kind, "param": param, "code": code}


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: list[SecretStr], allow_without_keys: bool = False) -> bool:
    """Refuse to serve on a reachable address without API keys unless explicitly allowed; True when the
    server is about to run open on a reachable address (the caller warns loudly)."""
    if keys or is_loopback(host):
        return False
    if not allow_without_keys:
        raise ConfigError(f"refusing to serve on {host} without API keys: set SHOPQUERY_API_KEYS (comma-separated, "
                          "16+ characters each), bind to 127.0.0.1, or (trusted networks only) set "
                          "SHOPQUERY_API_ALLOW_PUBLIC_WITHOUT_KEYS=true")
    return True


class KeyChecker:
    """Checks presented keys against the configured ones in constant time; knows keys only by a short digest."""

    def __init__(self, keys: list[SecretStr]):
        self._keys = [k.get_secret_value().encode("utf-8") for k in keys]

    @property
    def required(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self._keys)

    def identify(self, presented: str | None) -> str | None:
        """A stable, non-reversible id of the matching key, or None when no key matches."""
        if not presented or not self._keys:
            return None
        given = presented.encode("utf-8")
        matches = [hmac.compare_digest(given, key) for key in self._keys]  # every key compared, no early exit
        if not any(matches):
            return None
        return "key:" + hashlib.sha256(given).hexdigest()[:12]


class RateLimiter:
    """A token bucket per client: `per_minute` requests of burst, refilled evenly over a minute."""

    def __init__(self, per_minute: int, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one request; 0.0 when allowed, else the seconds until the next one is."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now, rate)
        return 0.0

    def _forget_full(self, now: float, rate: float) -> None:
        """Drop the buckets that have refilled completely (they hold no information)."""
        for client, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * rate >= self.per_minute:
                del self._buckets[client]


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class SlotsBusy(ApiError):
    """No slot freed up in time, or the wait queue was full."""


class Bulkhead:
    """At most `capacity` holders at once and at most `max_queue` waiting, each for at most `wait_s`: work beyond
    that is refused at once (503 + Retry-After) instead of piling up. Used from one event loop."""

    def __init__(self, capacity: int, max_queue: int, wait_s: float, what: str = "slot"):
        self.capacity = capacity
        self.max_queue = max_queue
        self.wait_s = wait_s
        self.what = what
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None
        self.busy = 0
        self.waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._loop, self._sem, self.busy, self.waiting = loop, asyncio.Semaphore(self.capacity), 0, 0
        return self._sem

    def _refuse(self, why: str) -> SlotsBusy:
        return SlotsBusy(503, "overloaded", f"all {self.capacity} {self.what}(s) are busy{why}; retry shortly",
                         retry_after(max(self.wait_s, 1.0)))

    async def acquire(self) -> None:
        """Take a slot, waiting in the bounded queue; SlotsBusy when the queue is full or the wait runs out."""
        sem = self._semaphore()
        if not sem.locked():
            await sem.acquire()
        elif self.wait_s <= 0 or self.waiting >= self.max_queue:
            raise self._refuse(f" and {self.waiting} request(s) are waiting" if self.max_queue else "")
        else:
            self.waiting += 1
            try:
                await asyncio.wait_for(sem.acquire(), timeout=self.wait_s)
            except TimeoutError:
                raise self._refuse(f" for {self.wait_s:g} s") from None
            finally:
                self.waiting -= 1
        self.busy += 1

    def release(self) -> None:
        """Give a slot back (thread-safe: may be called from a worker thread's done callback)."""
        sem, loop = self._sem, self._loop
        if sem is None or loop is None:
            return

        def give_back() -> None:
            self.busy -= 1
            sem.release()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            give_back()
        else:
            loop.call_soon_threadsafe(give_back)


class ModelSlots(Bulkhead):
    """A Bulkhead for chat turns, each run in a worker thread. A slot is freed when its worker finishes, even if
    the client has gone away (the model is busy until then)."""

    def __init__(self, capacity: int, wait_s: float, max_queue: int = 8):
        super().__init__(capacity, max_queue, wait_s, "chat slot")
        self.executor = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="shopquery-turn")

    async def start(self, fn: Callable[[], Any], on_done: Callable[[], None] | None = None) -> asyncio.Future:
        """Run `fn` in a worker thread once a slot is free; SlotsBusy when none frees up in time."""
        await self.acquire()

        def finished(_: Any) -> None:
            self.release()
            if on_done is not None:
                on_done()

        future = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        future.add_done_callback(finished)
        return future

    def close(self) -> None:
        """Stop the workers once the running turns finish."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def error_json(status: int, kind: str, message: str) -> bytes:
    """The JSON body of an error response."""
    return json.dumps({"error": error_body(status, kind, message)}).encode("utf-8")


async def send_error(send: Callable[..., Any], status: int, kind: str, message: str) -> None:
    """Answer an ASGI request with an error body (used before routing)."""
    body = error_json(status, kind, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: request bodies over `max_bytes` get 413 before the application reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, "invalid_request", "the Content-Length header is not a number")
                return
            if int(declared) > self.max_bytes:
                if int(declared) <= self._drain_limit:
                    await self._drain(receive, 0)
                await send_error(send, 413, "too_large", self._too_large())
                return
        body = await self._read(receive)
        if body is None:
            await send_error(send, 413, "too_large", self._too_large())
            return
        await self.app(scope, _replay(body, receive), send)

    @property
    def _drain_limit(self) -> int:
        """How much of a refused body is read and dropped before the 413, so that a proxy still sending it gets
        the answer instead of a connection reset (which it would report as 502). Larger bodies are cut off."""
        return max(4 * self.max_bytes, 4 * 1024 * 1024)

    async def _drain(self, receive: Callable[..., Any], seen: int) -> None:
        while seen <= self._drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (setting SHOPQUERY_API_MAX_BODY_BYTES)"

    async def _read(self, receive: Callable[..., Any]) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, total)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Callable[..., Any]) -> Callable[..., Any]:
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as the server would

    return replayed
