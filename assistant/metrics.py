"""The metrics the HTTP API exports, with prometheus-client: one registry per application (so several apps in one
process, as in tests, keep apart), the process and Python runtime collectors, and every unlabelled counter (and the
labelled ones whose labels are known in advance) exported from 0."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SURFACES = ("chat", "openai")
ANSWER_KINDS = ("tool_calls", "tool_results", "structured")
COMPONENTS = ("catalog", "history", "model")
MODEL_CALLS = ("reply:reply", "search_catalog")


class ApiMetrics:
    """What the HTTP API counts: requests and latency by route and status, chat turns, fallbacks, tool and model
    errors, model calls and their latency, answers written for OpenAI clients, waits for and refusals of model and
    fast-path slots, and the health of each component at the last readiness check."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)
        self.requests = Counter("shopquery_http_requests", "HTTP requests by route, method and status",
                                ("route", "method", "status"), registry=r)
        self.latency = Histogram("shopquery_http_request_duration_seconds",
                                 "HTTP request latency (to the last byte) by route, method and status",
                                 ("route", "method", "status"), buckets=LATENCY_BUCKETS, registry=r)
        self.turns = Counter("shopquery_chat_turns", "chat turns answered, by surface", ("surface",), registry=r)
        self.fallbacks = Counter("shopquery_chat_fallbacks",
                                 "chat turns answered with the templated reply instead of the model's", registry=r)
        self.step_errors = Counter("shopquery_agent_step_errors",
                                   "trace steps that ended with an error, by kind (tool/model) and name",
                                   ("kind", "name"), registry=r)
        self.model_calls = Counter("shopquery_model_calls", "chat model calls made by the agent", ("name",),
                                   registry=r)
        self.model_seconds = Histogram("shopquery_model_call_duration_seconds",
                                       "duration of the agent's chat model calls", ("name",),
                                       buckets=MODEL_BUCKETS, registry=r)
        self.answers = Counter("shopquery_openai_answers", "OpenAI-compatible answers written without the "
                               "assistant's turn, by kind (tool_calls, tool_results, structured)", ("kind",),
                               registry=r)
        self.tokens = Counter("shopquery_model_tokens", "tokens of model calls, by direction (prompt, completion)",
                              ("direction",), registry=r)
        self.queue_wait = Histogram("shopquery_model_slot_wait_seconds", "how long a chat turn waited for a model "
                                    "slot", buckets=WAIT_BUCKETS, registry=r)
        self.busy = Gauge("shopquery_model_slots_busy", "chat turns running now", registry=r)
        self.waiting = Gauge("shopquery_model_slots_waiting", "chat turns waiting for a free slot", registry=r)
        self.rejected = Counter("shopquery_model_slot_rejections",
                                "chat turns refused because every model slot stayed busy", registry=r)
        self.fast_busy = Gauge("shopquery_fast_slots_busy", "fast-path requests running now", registry=r)
        self.fast_waiting = Gauge("shopquery_fast_slots_waiting", "fast-path requests waiting for a slot",
                                  registry=r)
        self.fast_rejected = Counter("shopquery_fast_slot_rejections", "fast-path requests refused because the "
                                     "wait queue was full or the wait ran out", registry=r)
        self.component_up = Gauge("shopquery_component_ok", "1 when a component (catalog, history, model) was ok "
                                  "at the last readiness check, else 0", ("component",), registry=r)
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Create the series whose labels are known, so they are exported (at 0) before anything happens."""
        for surface in SURFACES:
            self.turns.labels(surface=surface)
        for kind in ANSWER_KINDS:
            self.answers.labels(kind=kind)
        for name in MODEL_CALLS:
            self.model_calls.labels(name=name)
            self.model_seconds.labels(name=name)
        for direction in ("prompt", "completion"):
            self.tokens.labels(direction=direction)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished HTTP request."""
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route, method=method, status=str(status)).observe(seconds)

    def observe_turn(self, turn: Any, surface: str) -> None:
        """Count one agent turn: its fallback, the trace steps with errors, the model calls and their tokens."""
        self.turns.labels(surface=surface).inc()
        if turn.fallback:
            self.fallbacks.inc()
        for step in turn.trace:
            if step.error and step.kind in ("tool", "model"):
                self.step_errors.labels(kind=step.kind, name=step.name).inc()
            if step.kind == "model":
                self.model_calls.labels(name=step.name).inc()
                self.model_seconds.labels(name=step.name).observe(step.ms / 1000.0)
                tokens = getattr(step, "tokens", None) or {}
                self.tokens.labels(direction="prompt").inc(tokens.get("prompt", 0))
                self.tokens.labels(direction="completion").inc(tokens.get("completion", 0))

    def observe_answer(self, kind: str, answer: Any) -> None:
        """Count one answer written without the assistant's turn, and its tokens."""
        self.answers.labels(kind=kind).inc()
        self.tokens.labels(direction="prompt").inc(answer.usage.prompt_tokens)
        self.tokens.labels(direction="completion").inc(answer.usage.completion_tokens)

    def render(self) -> bytes:
        """All metrics in the Prometheus text format (0.0.4)."""
        return generate_latest(self.registry)
