"""Prometheus metrics in the text exposition format (version 0.0.4): counters, gauges and histograms with labels,
thread-safe, rendered on demand. `ApiMetrics` holds the metrics the HTTP API exports."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()):
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        """The HELP and TYPE lines."""
        return [f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}",
                f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    """A monotonically increasing count per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()):
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        """Add `amount` (>= 0) to the series with these labels."""
        if amount < 0:
            raise ValueError("a counter cannot go down")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        """The current value of one series (0 if never touched)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        """Exposition lines."""
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Gauge(Counter):
    """A value that goes up and down."""

    kind = "gauge"

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        """Add `amount` (may be negative)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: Any) -> None:
        """Set the series to `value`."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: Iterable[float] = LATENCY_BUCKETS):
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._series: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts, then +Inf, sum

    def observe(self, value: float, **labels: Any) -> None:
        """Record one observation."""
        key = self._key(labels)
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            series[slot] += 1
            series[-1] += value

    def count(self, **labels: Any) -> int:
        """How many observations one series holds."""
        with self._lock:
            series = self._series.get(self._key(labels))
        return int(sum(series[:-1])) if series else 0

    def render(self) -> list[str]:
        """Exposition lines: _bucket (cumulative, le), _sum and _count per series."""
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        lines = self.header()
        for key, series in items:
            running = 0.0
            for bound, n in zip((*self.buckets, math.inf), series[:-1], strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {_number(running)}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(series[-1])}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {_number(running)}")
        return lines


class Registry:
    """The metrics of one process, rendered together."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: Any) -> Any:
        """Register a metric and return it."""
        if any(m.name == metric.name for m in self.metrics):
            raise ValueError(f"metric {metric.name} is already registered")
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        """The whole registry in the text format."""
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.render())  # type: ignore[attr-defined]
        return "\n".join(lines) + "\n"


class ApiMetrics:
    """What the HTTP API counts: requests and latency by route and status, chat turns, fallbacks, tool and model
    errors, model calls, and chat turns waiting or refused for want of a model slot."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.requests = r.add(Counter("shopquery_http_requests_total", "HTTP requests by route, method and status",
                                      ("route", "method", "status")))
        self.latency = r.add(Histogram("shopquery_http_request_duration_seconds",
                                       "HTTP request latency (to the last byte) by route, method and status",
                                       ("route", "method", "status")))
        self.turns = r.add(Counter("shopquery_chat_turns_total", "chat turns answered, by surface", ("surface",)))
        self.fallbacks = r.add(Counter("shopquery_chat_fallbacks_total",
                                       "chat turns answered with the templated reply instead of the model's"))
        self.step_errors = r.add(Counter("shopquery_agent_step_errors_total",
                                         "trace steps that ended with an error, by kind (tool/model) and name",
                                         ("kind", "name")))
        self.model_calls = r.add(Counter("shopquery_model_calls_total", "chat model calls made by the agent",
                                         ("name",)))
        self.model_seconds = r.add(Histogram("shopquery_model_call_duration_seconds",
                                             "duration of the agent's chat model calls", ("name",), MODEL_BUCKETS))
        self.busy = r.add(Gauge("shopquery_model_slots_busy", "chat turns running now"))
        self.waiting = r.add(Gauge("shopquery_model_slots_waiting", "chat turns waiting for a free slot"))
        self.rejected = r.add(Counter("shopquery_model_slot_rejections_total",
                                      "chat turns refused because every model slot stayed busy"))
        self.fast_busy = r.add(Gauge("shopquery_fast_slots_busy", "fast-path requests running now"))
        self.fast_waiting = r.add(Gauge("shopquery_fast_slots_waiting", "fast-path requests waiting for a slot"))
        self.fast_rejected = r.add(Counter("shopquery_fast_slot_rejections_total",
                                           "fast-path requests refused because the wait queue was full or the "
                                           "wait ran out"))
        self.answers = r.add(Counter("shopquery_openai_answers_total", "OpenAI-compatible answers written without "
                                     "the assistant's turn, by kind (tool_calls, tool_results, structured)",
                                     ("kind",)))
        self.component_up = r.add(Gauge("shopquery_component_ok", "1 when a component (catalog, history, "
                                        "model) was ok at the last readiness check, else 0", ("component",)))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished HTTP request."""
        self.requests.inc(route=route, method=method, status=str(status))
        self.latency.observe(seconds, route=route, method=method, status=str(status))

    def observe_turn(self, turn: Any, surface: str) -> None:
        """Count one agent turn: its fallback, the trace steps with errors, and the model calls."""
        self.turns.inc(surface=surface)
        if turn.fallback:
            self.fallbacks.inc()
        for step in turn.trace:
            if step.error and step.kind in ("tool", "model"):
                self.step_errors.inc(kind=step.kind, name=step.name)
            if step.kind == "model":
                self.model_calls.inc(name=step.name)
                self.model_seconds.observe(step.ms / 1000.0, name=step.name)

    def observe_answer(self, kind: str, answer: Any) -> None:
        """Count one answer written without the assistant's turn."""
        self.answers.inc(kind=kind)

    def render(self) -> str:
        """All API metrics in the text format."""
        return self.registry.render()
