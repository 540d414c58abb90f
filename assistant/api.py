"""The HTTP API (`shopquery serve`): a thin FastAPI adapter over the Assistant — the fast path, conversations (JSON
or server-sent events), an OpenAI-compatible chat endpoint, history events, health, readiness and metrics. Every
answer comes from the assistant's own API; this module only translates, guards and counts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import api_openai as oai
from assistant.api_completions import SSE_HEADERS, openai_turn
from assistant.api_models import (
    MAX_EVENTS,
    AnalyzeRequest,
    ChatCompletion,
    ChatCompletionRequest,
    ChatRequest,
    ChatResponse,
    ErrorResponse,
    EventsRecorded,
    ModelCard,
    ModelList,
)
from assistant.api_ops import ModelHealth, RequestMetrics, Warmup, readiness
from assistant.api_security import (
    ApiError,
    BodyLimit,
    Bulkhead,
    KeyChecker,
    ModelSlots,
    RateLimiter,
    SlotsBusy,
    check_bind,
    error_body,
    retry_after,
)
from assistant.api_turns import TokenBridge, classify_error, error_payload, start_turn
from assistant.app import Assistant
from assistant.logs import RequestIds, configure_logging
from assistant.metrics import CONTENT_TYPE, ApiMetrics
from assistant.settings import Settings
from tools.core.errors import ShopqueryError
from tools.core.types import QueryAnalysis
from tools.history import Event

log = logging.getLogger("shopquery.api")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in (
        (400, "unusable input"), (401, "missing or wrong API key"), (413, "body too large"),
        (422, "invalid request body"), (429, "rate limit; see Retry-After"),
        (503, "busy (every chat slot taken; see Retry-After) or a store unavailable"))}


class ApiState:
    """Everything the routes share: the assistant and the guards, metrics and caches built from the settings."""

    def __init__(self, assistant: Assistant):
        s = assistant.settings
        self.assistant = assistant
        self.settings = s
        self.metrics = ApiMetrics()
        self.keys = KeyChecker(s.api_keys)
        self.limiter = RateLimiter(s.api_rate_limit)
        self.slots = ModelSlots(s.api_model_concurrency, s.api_queue_timeout_s, s.api_model_queue)
        self.fast = Bulkhead(s.api_fast_concurrency, s.api_fast_queue, s.api_queue_timeout_s, "fast-path slot")
        self.health = ModelHealth(assistant)
        self.warmup = Warmup(assistant, self.health)
        self.active: set[str] = set()

    def after_turn(self, turn: Any, surface: str) -> None:
        """Count a finished turn and learn the model's status from it."""
        self.metrics.observe_turn(turn, surface)
        self.health.observe(turn)


# --- errors -------------------------------------------------------------------------------------------------------
def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                    details: list[dict[str, Any]] | None = None, param: str | None = None) -> JSONResponse:
    body = error_body(status, code, message, param)
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_WRONG_BRANCH = {"list_type", "dict_type", "model_type", "model_attributes_type"}


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Readable validation errors: union branch tags left out of locations, and "should be a list/object"
    complaints from the branch the input did not take dropped when a more precise error exists."""
    errors = list(errors)
    precise = [e for e in errors if e.get("type") not in _WRONG_BRANCH]
    out = []
    for e in precise or errors:
        loc = [p for p in e.get("loc", ()) if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        out.append({"loc": loc, "msg": str(e.get("msg", "")).removeprefix("Value error, ")})
    return out


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(exc.errors())
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"][1:]) or None
        message = f"{param or 'body'}: {first['msg']}"
        return _error_response(422, "invalid_request", message, details=details, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if exc.status_code == 404 else "invalid_request"
        return _error_response(exc.status_code, kind, str(exc.detail), dict(exc.headers or {}))

    async def known_error(request: Request, exc: Exception) -> JSONResponse:
        status, kind, message, headers = classify_error(exc)
        return _error_response(status, kind, message, headers, param=getattr(exc, "param", None))

    for kind in (ApiError, ShopqueryError, Exception):
        app.add_exception_handler(kind, known_error)


# --- guards -------------------------------------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


def _state(request: Request) -> ApiState:
    return request.app.state.api


def guard(request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
          key: Annotated[str | None, Depends(_api_key)]) -> str | None:
    """Check the API key (when keys are configured) and spend one request of the caller's rate limit."""
    api = _state(request)
    identity = api.keys.identify(key or (bearer.credentials if bearer else None))
    client = f"ip:{request.client.host if request.client else 'unknown'}"
    wait = api.limiter.take(identity or client)
    if wait > 0:
        raise ApiError(429, "rate_limited", f"more than {api.settings.api_rate_limit} requests per minute; "
                                            f"retry in {wait:.1f} s", retry_after(wait))
    if api.keys.required and identity is None:
        raise ApiError(401, "unauthorized", "a valid API key is required (Authorization: Bearer KEY or "
                                            "X-API-Key: KEY)", {"WWW-Authenticate": "Bearer"})
    return identity


Guarded = [Depends(guard)]
ApiDep = Annotated[ApiState, Depends(_state)]


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _chat_events(bridge: TokenBridge, future: asyncio.Future, queue_ms: float) -> AsyncIterator[bytes]:
    async for text in bridge.tokens():
        yield _sse("token", {"text": text})
    try:
        turn = await future
    except Exception as exc:  # noqa: BLE001 - reported to the client as an error event
        yield _sse("error", error_payload(exc))
        return
    yield _sse("turn", ChatResponse.of(turn, queue_ms).model_dump(mode="json"))


# --- routes -------------------------------------------------------------------------------------------------------
def _add_probe_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], summary="the process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="catalog loaded and model status",
             responses={503: {"description": "not ready (starting, failed, or no catalog)"}})
    def readyz(api: ApiDep) -> JSONResponse:
        return readiness(api)

    @app.get("/metrics", tags=["operations"], dependencies=Guarded, response_class=PlainTextResponse,
             responses=ERRORS, summary="Prometheus metrics (text format)")
    def metrics(api: ApiDep) -> Response:
        api.metrics.busy.set(api.slots.busy)
        api.metrics.waiting.set(api.slots.waiting)
        api.metrics.fast_busy.set(api.fast.busy)
        api.metrics.fast_waiting.set(api.fast.waiting)
        return Response(api.metrics.render(), media_type=CONTENT_TYPE)


def _add_v1_routes(app: FastAPI) -> None:
    @app.post("/v1/analyze", tags=["assistant"], dependencies=Guarded, responses=ERRORS,
              summary="the fast path: correct, understand and search one query (no language model)")
    async def analyze(body: AnalyzeRequest, api: ApiDep) -> QueryAnalysis:
        try:
            await api.fast.acquire()
        except SlotsBusy:
            api.metrics.fast_rejected.inc()
            raise
        try:
            return await run_in_threadpool(api.assistant.analyze, body.query, user_id=body.user_id, k=body.k)
        finally:
            api.fast.release()

    @app.post("/v1/chat", tags=["assistant"], dependencies=Guarded, response_model=ChatResponse,
              summary="one message of a conversation (JSON, or server-sent events with stream=true)",
              responses=ERRORS | {200: {"content": {"text/event-stream": {}},
                                        "description": "ChatResponse, or events `token` {text}… then `turn`"}})
    async def chat(body: ChatRequest, api: ApiDep) -> Response:
        bridge = TokenBridge() if body.stream else None
        future, session_id, queue_ms = await start_turn(api, body.message, body.session_id, body.user_id,
                                                        "chat", bridge)
        headers = {"X-Session-Id": session_id}
        if bridge is not None:
            return StreamingResponse(_chat_events(bridge, future, queue_ms), media_type="text/event-stream",
                                     headers=SSE_HEADERS | headers)
        turn = await future
        return JSONResponse(ChatResponse.of(turn, queue_ms).model_dump(mode="json"), headers=headers)

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=Guarded, response_model=ChatCompletion,
              summary="OpenAI-compatible chat completion (stream=true gives chat.completion.chunk events)",
              responses=ERRORS | {200: {"content": {"text/event-stream": {}},
                                        "description": "ChatCompletion, or chat.completion.chunk events with "
                                                       "stream=true, ending with `data: [DONE]`"}})
    async def chat_completions(body: ChatCompletionRequest, api: ApiDep,
                               x_session_id: Annotated[str | None, Header()] = None) -> Response:
        return await openai_turn(api, body, x_session_id)

    @app.get("/v1/models", tags=["openai"], dependencies=Guarded, responses=ERRORS,
             summary="the model this server answers as")
    def models() -> ModelList:
        return ModelList(data=[ModelCard(id=oai.SERVED_MODEL, created=0)])

    @app.post("/v1/events", tags=["history"], dependencies=Guarded, status_code=201, responses=ERRORS,
              summary="record shopper events (one object, or a list stored in one transaction); 201 only once "
                      "they are on disk, 503 + Retry-After when the database is locked (nothing stored)")
    def events(body: Annotated[Event | Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)],
                               Body()], api: ApiDep) -> EventsRecorded:
        history = api.assistant.history
        if isinstance(body, list):
            ids = history.record_many_ids(body)
            return EventsRecorded(recorded=len(ids), ids=ids)
        return EventsRecorded(recorded=1, ids=[history.record(body)])


# --- the app ------------------------------------------------------------------------------------------------------
def create_app(target: Assistant | Settings, *, warm_up: bool = False) -> FastAPI:
    """The FastAPI application over an Assistant (or one built from Settings); `warm_up` loads everything in the
    background at start-up (/readyz says when it is done)."""
    assistant = target if isinstance(target, Assistant) else Assistant(target)
    api = ApiState(assistant)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            api.warmup.start()
        yield

    app = FastAPI(title="shopquery", version="0.1.0", lifespan=lifespan,
                  description="Query assistant for e-commerce search: the fast path, conversations and an "
                              "OpenAI-compatible chat endpoint.")
    app.state.api = api
    _install_error_handlers(app)
    _add_probe_routes(app)
    _add_v1_routes(app)
    app.add_middleware(BodyLimit, max_bytes=api.settings.api_max_body_bytes)
    if api.settings.api_cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=api.settings.api_cors_origins,
                           allow_methods=["GET", "POST"], expose_headers=["X-Session-Id", "Retry-After"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Session-Id"])
    app.add_middleware(RequestMetrics, api_app=app, metrics=api.metrics)
    app.add_middleware(RequestIds)
    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted (refuses a non-loopback host without API keys)."""
    import uvicorn

    host = host or settings.api_host
    port = port or settings.api_port
    open_to_network = check_bind(host, settings.api_keys, settings.api_allow_public_without_keys)
    configure_logging(log_level, settings.log_format)
    app = create_app(Assistant(settings), warm_up=True)
    keys = f"{len(settings.api_keys)} API key(s) required" if settings.api_keys else \
        "no API keys" + ("" if open_to_network else " (loopback only)")
    log.warning("shopquery API on http://%s:%d (%s); /readyz reports when the catalog and model are loaded",
                host, port, keys)
    if open_to_network:
        log.warning("INSECURE: serving on %s without API keys (SHOPQUERY_API_ALLOW_PUBLIC_WITHOUT_KEYS=true); "
                    "anyone who can reach this address can use the API", host)
    # uvicorn's own loggers go through the root handler (JSON lines); the access line comes from RequestIds
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, log_config=None,
                access_log=False)
