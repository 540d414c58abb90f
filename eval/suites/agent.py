"""Agent suite: data lines {"messages": [{"role": "user", "content": ...}, ...], "user_id": optional,
"expect": {...}}. The user turns are played in order in one session; `expect` applies to the last turn:

- tools_called: tool names that must appear in the last turn's trace
- intent: the predicted intent label of the last message
- product_constraints: color, brand, price_min, price_max, category_contains — every returned product must meet them
- min_products: at least this many products
- reply_language: zh or en
- reply_contains_any: the reply contains at least one of these strings

Metrics: pass rate (and per check), tool-call validity (model-written calls whose arguments validated), fallback
rate, answered rate (products, a clarifying question or an answer), latency per turn and to the first token."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eval.datasets import Dataset
from eval.metrics import percentile
from tools.colors import canonical_color, color_in_title
from tools.text import has_cjk

NAME = "agent"
NEEDS_CATALOG = True


class Message(BaseModel):
    """One message of the conversation (only user turns are played)."""

    role: Literal["user", "assistant", "system"]
    content: str


class ProductConstraints(BaseModel):
    """What every product of the last reply must satisfy."""

    model_config = ConfigDict(extra="forbid")

    color: str | None = None
    brand: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    category_contains: str | None = None


class Expect(BaseModel):
    """Checks on the last reply (all optional)."""

    model_config = ConfigDict(extra="forbid")

    tools_called: list[str] = Field(default_factory=list)
    intent: str | None = None
    product_constraints: ProductConstraints | None = None
    min_products: int | None = Field(default=None, ge=0)
    reply_language: Literal["zh", "en"] | None = None
    reply_contains_any: list[str] = Field(default_factory=list)


class Case(BaseModel):
    """One conversation with expectations on its last turn."""

    id: str | None = None
    messages: list[Message] = Field(min_length=1)
    user_id: str | None = None
    expect: Expect = Field(default_factory=Expect)


def product_problem(card: Any, rule: ProductConstraints) -> str | None:
    """Why a returned product breaks the constraints (None when it meets them)."""
    if rule.color:
        colour = canonical_color(card.color) or color_in_title(card.title)
        if colour != canonical_color(rule.color):
            return f"{card.id} colour {colour or 'none'} != {rule.color}"
    if rule.brand:
        brand = (card.brand or "").lower()
        if rule.brand.lower() not in brand and rule.brand.lower() not in card.title.lower():
            return f"{card.id} brand {card.brand} != {rule.brand}"
    if rule.price_min is not None and (card.price is None or card.price < rule.price_min):
        return f"{card.id} price {card.price} < {rule.price_min}"
    if rule.price_max is not None and (card.price is None or card.price > rule.price_max):
        return f"{card.id} price {card.price} > {rule.price_max}"
    if rule.category_contains:
        needle = rule.category_contains.lower()
        if needle not in (card.category or "").lower() and needle not in card.title.lower():
            return f"{card.id} category {card.category} lacks {rule.category_contains!r}"
    return None


def check(turn: Any, expect: Expect) -> dict[str, str | None]:
    """Each expectation -> None when met, else why not."""
    out: dict[str, str | None] = {}
    if expect.tools_called:
        called = turn.tools_called()
        missing = [t for t in expect.tools_called if t not in called]
        out["tools_called"] = f"missing {missing} (called {called})" if missing else None
    if expect.intent:
        out["intent"] = None if turn.intent == expect.intent else f"intent {turn.intent} != {expect.intent}"
    if expect.min_products is not None:
        n = len(turn.products)
        out["min_products"] = None if n >= expect.min_products else f"{n} products < {expect.min_products}"
    if expect.product_constraints is not None:
        problems = [p for p in (product_problem(c, expect.product_constraints) for c in turn.products) if p]
        out["product_constraints"] = "; ".join(problems[:3]) or None
    if expect.reply_language:
        lang = "zh" if has_cjk(turn.reply) else "en"
        out["reply_language"] = None if lang == expect.reply_language else f"reply in {lang}"
    if expect.reply_contains_any:
        hit = any(s.lower() in turn.reply.lower() for s in expect.reply_contains_any)
        out["reply_contains_any"] = None if hit else "none of the strings in the reply"
    return out


def run(assistant: Any, dataset: Dataset, progress: bool = False, use_model: bool = True,
        tool_calls: str | None = None, **_: Any) -> dict[str, Any]:
    """Play every conversation; return pass rates, validity, fallback and latency figures."""
    from assistant.agent import Agent

    agent = Agent(assistant, use_model=use_model, tool_calls=tool_calls)  # type: ignore[arg-type]
    if any((c.user_id or "").startswith("demo-") for c in dataset.cases):
        assistant.ensure_demo_users()  # the demo shoppers' synthetic histories, reset before every run
    passed = failed = 0
    per_check: dict[str, list[bool]] = {}
    turn_ms: list[float] = []
    first_ms: list[float] = []
    turns = fallbacks = answered = model_turns = 0
    calls_valid = calls_total = 0
    failures: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    for case in dataset.cases:
        try:
            session = None
            last = None
            for message in (m for m in case.messages if m.role == "user"):
                start = time.perf_counter()
                last = agent.respond(message.content, session_id=session, user_id=case.user_id)
                turn_ms.append((time.perf_counter() - start) * 1000)
                if last.first_token_ms is not None:
                    first_ms.append(last.first_token_ms)
                session = last.session_id
                turns += 1
                answered += bool(last.products or last.clarification or last.reply.strip())
                attempted = any(s.kind == "model" for s in last.trace)
                model_turns += attempted
                fallbacks += last.fallback is not None
                if last.fallback:
                    key = last.fallback.split("(")[0].strip()
                    reasons[key] = reasons.get(key, 0) + 1
                model_calls = [s for s in last.trace if s.kind == "model" and s.name == "search_catalog"]
                calls_total += len(model_calls)
                calls_valid += sum(1 for s in model_calls if s.error is None)
        except Exception as exc:  # noqa: BLE001 - a broken case is recorded and the run goes on
            failed += 1
            failures.append({"id": case.id, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        results = check(last, case.expect)
        for name, problem in results.items():
            per_check.setdefault(name, []).append(problem is None)
        ok = all(p is None for p in results.values())
        passed += ok
        if not ok:
            failures.append({"id": case.id, "problems": {k: v for k, v in results.items() if v}})
    n = len(dataset.cases)
    return {
        "cases": n, "pass_rate": round(passed / n, 3) if n else 0.0, "failed": failed, "turns": turns,
        **{f"check_{k}": round(sum(v) / len(v), 3) for k, v in sorted(per_check.items())},
        "tool_call_validity": round(calls_valid / calls_total, 3) if calls_total else None,
        "model_tool_calls": calls_total,
        "fallback_rate": round(fallbacks / model_turns, 3) if model_turns else 0.0,
        "fallback_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "answered_rate": round(answered / turns, 3) if turns else 0.0,
        "turn_p50_ms": round(percentile(turn_ms, 50), 1) if turn_ms else None,
        "turn_p95_ms": round(percentile(turn_ms, 95), 1) if turn_ms else None,
        "first_token_p50_ms": round(percentile(first_ms, 50), 1) if first_ms else None,
        "first_token_p95_ms": round(percentile(first_ms, 95), 1) if first_ms else None,
        "use_model": use_model, "tool_calls": agent.tool_calls,
        "failures": failures,
    }
