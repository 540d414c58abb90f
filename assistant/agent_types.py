"""Typed records of a conversation turn (what the surfaces consume) and the working state of one turn."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.dialogue import SessionState
from tools.core.types import Product, SearchFilters

ToolCallPolicy = Literal["auto", "always", "never"]


class TraceStep(BaseModel):
    """One step of a turn: a tool call (by the policy or by the model), a model call, a fallback or a note."""

    kind: Literal["tool", "model", "fallback", "note"]
    name: str
    source: Literal["policy", "model"] = "policy"
    args: dict[str, Any] = Field(default_factory=dict)
    result: str | None = Field(default=None, description="a short summary of what came back")
    error: str | None = None
    ms: float = 0.0
    tokens: dict[str, int] | None = Field(default=None, description="a model call's prompt and completion tokens")
    finish_reason: str | None = Field(default=None, description="why a model call stopped (stop, length, …)")

    def add_usage(self, message: Any) -> None:
        """Add the token usage and finish reason a model reply (or the last chunk of a stream) reports."""
        usage = getattr(message, "usage_metadata", None) or {}
        if usage:
            tokens = self.tokens or {"prompt": 0, "completion": 0}
            tokens["prompt"] += int(usage.get("input_tokens") or 0)
            tokens["completion"] += int(usage.get("output_tokens") or 0)
            self.tokens = tokens
        finish = (getattr(message, "response_metadata", None) or {}).get("finish_reason")
        if finish:
            self.finish_reason = finish


class ProductCard(BaseModel):
    """A product as the shopper sees it, with the reason it is shown."""

    id: str
    title: str
    brand: str | None = None
    category: str | None = None
    price: float | None = None
    currency: str | None = None
    color: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    score: float | None = None

    @classmethod
    def of(cls, product: Product, reason: str = "", score: float | None = None) -> ProductCard:
        """A card for a catalog product."""
        return cls(id=product.id, title=product.title, brand=product.brand, category=product.category,
                   price=product.price, currency=product.currency, color=product.color,
                   attributes=dict(product.attributes), reason=reason, score=score)


class Suggestion(BaseModel):
    """A one-click follow-up the surfaces can offer (a price band, a colour, a brand, a rewrite)."""

    label: str
    message: str
    kind: Literal["price", "color", "brand", "rewrite", "category"]


class AgentTurn(BaseModel):
    """The result of one message."""

    session_id: str
    user_id: str | None = None
    message: str
    lang: Literal["zh", "en"]
    intent: str | None = None
    action: str
    reply: str
    products: list[ProductCard] = Field(default_factory=list)
    clarification: bool = False
    used_model: bool = False
    fallback: str | None = Field(default=None, description="why the templated reply was used, if it was")
    reply_replaced: bool = Field(default=False, description="streamed model text was discarded for the reply")
    corrected_query: str | None = None
    filters: SearchFilters | None = None
    relaxed: list[str] = Field(default_factory=list)
    refinements: list[str] = Field(default_factory=list)
    expansions: list[str] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    trace: list[TraceStep] = Field(default_factory=list)
    first_token_ms: float | None = None
    total_ms: float = 0.0
    notes: list[str] = Field(default_factory=list)

    def tools_called(self) -> list[str]:
        """Names of the tools this turn called, in order."""
        return [s.name for s in self.trace if s.kind == "tool"]


class Turn:
    """Mutable working state of one turn: the trace, notes, the streaming callback and per-turn lookups."""

    def __init__(self, message: str, state: SessionState, on_token: Callable[[str], None] | None):
        self.started = time.perf_counter()
        self.message = message
        self.state = state
        self.on_token = on_token
        self.trace: list[TraceStep] = []
        self.notes: list[str] = []
        self.first_token_ms: float | None = None
        self.correct = True
        self.max_tokens: int | None = None  # a caller's cap on the reply's length, in tokens
        self.lookups: dict[str, Any] = {}  # values read once per turn (the shopper's history profile)
        self.replay = False  # an earlier message replayed to rebuild a conversation: no model, no reply
        self.inferred: set[str] = set()  # constraints the rules computed this turn (not said by the shopper)

    @contextmanager
    def step(self, kind: str, name: str, args: dict[str, Any] | None = None,
             source: str = "policy") -> Iterator[TraceStep]:
        """Record a timed step; an exception inside is recorded as the step's error and re-raised."""
        record = TraceStep(kind=kind, name=name, args=args or {}, source=source)  # type: ignore[arg-type]
        start = time.perf_counter()
        try:
            yield record
        except Exception as exc:
            record.error = short(exc)
            raise
        finally:
            record.ms = round((time.perf_counter() - start) * 1000, 2)
            self.trace.append(record)

    def emit(self, text: str) -> None:
        """Stream a piece of the reply to the caller."""
        if not text:
            return
        if self.first_token_ms is None:
            self.first_token_ms = round((time.perf_counter() - self.started) * 1000, 1)
        if self.on_token is not None:
            self.on_token(text)


def short(exc: BaseException) -> str:
    """An exception as one short line."""
    return " ".join(str(exc).split())[:240] or type(exc).__name__
