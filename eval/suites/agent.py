"""Agent suite: data lines {"messages": [{"role": "user", "content": ...}, ...], "user_id": optional,
"expect": {...}}. The user turns are played in order in one session; `expect` applies to the last turn:

- tools_called: tool names that must appear in the last turn's trace
- tools_not_called: names that must not appear anywhere in the last turn's trace (tools and model steps)
- intent: the predicted intent label of the last message
- product_constraints: color, brand, price_min, price_max, category_contains — every returned product must meet them
- min_products: at least this many products
- reply_language: zh or en
- reply_contains_any: the reply contains at least one of these strings
- reply_not_contains: the reply contains none of these strings (case-insensitive)

Metrics: pass rate (and per check), tool-call validity (model-written calls whose arguments validated), fallback
rate, answered rate (products, a clarifying question or an answer), latency per turn and to the first token."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eval.datasets import Dataset
from eval.metrics import percentile
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify
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
    tools_not_called: list[str] = Field(default_factory=list)
    intent: str | None = None
    product_constraints: ProductConstraints | None = None
    min_products: int | None = Field(default=None, ge=0)
    reply_language: Literal["zh", "en"] | None = None
    reply_contains_any: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)


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


def _tool_checks(turn: Any, expect: Expect) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if expect.tools_called:
        called = turn.tools_called()
        missing = [t for t in expect.tools_called if t not in called]
        out["tools_called"] = f"missing {missing} (called {called})" if missing else None
    if expect.tools_not_called:
        seen = [s.name for s in turn.trace]
        banned = [t for t in expect.tools_not_called if t in seen]
        out["tools_not_called"] = f"called {banned}" if banned else None
    return out


def _reply_checks(turn: Any, expect: Expect) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    reply = turn.reply.lower()
    if expect.reply_language:
        lang = "zh" if has_cjk(turn.reply) else "en"
        out["reply_language"] = None if lang == expect.reply_language else f"reply in {lang}"
    if expect.reply_contains_any:
        hit = any(s.lower() in reply for s in expect.reply_contains_any)
        out["reply_contains_any"] = None if hit else "none of the strings in the reply"
    if expect.reply_not_contains:
        found = [s for s in expect.reply_not_contains if s.lower() in reply]
        out["reply_not_contains"] = f"reply contains {found}" if found else None
    return out


def check(turn: Any, expect: Expect) -> dict[str, str | None]:
    """Each expectation -> None when met, else why not."""
    out = _tool_checks(turn, expect)
    if expect.intent:
        out["intent"] = None if turn.intent == expect.intent else f"intent {turn.intent} != {expect.intent}"
    if expect.min_products is not None:
        n = len(turn.products)
        out["min_products"] = None if n >= expect.min_products else f"{n} products < {expect.min_products}"
    if expect.product_constraints is not None:
        problems = [p for p in (product_problem(c, expect.product_constraints) for c in turn.products) if p]
        out["product_constraints"] = "; ".join(problems[:3]) or None
    out.update(_reply_checks(turn, expect))
    return out


class _Tally:
    """Counts over every played turn (for the aggregate metrics)."""

    def __init__(self) -> None:
        self.turn_ms: list[float] = []
        self.first_ms: list[float] = []
        self.turns = self.fallbacks = self.answered = self.model_turns = 0
        self.calls_valid = self.calls_total = 0
        self.reasons: dict[str, int] = {}

    def add(self, turn: Any, ms: float) -> None:
        """Count one turn."""
        self.turn_ms.append(ms)
        if turn.first_token_ms is not None:
            self.first_ms.append(turn.first_token_ms)
        self.turns += 1
        self.answered += bool(turn.products or turn.clarification or turn.reply.strip())
        self.model_turns += any(s.kind == "model" for s in turn.trace)
        self.fallbacks += turn.fallback is not None
        if turn.fallback:
            key = turn.fallback.split("(")[0].strip()
            self.reasons[key] = self.reasons.get(key, 0) + 1
        model_calls = [s for s in turn.trace if s.kind == "model" and s.name == "search_catalog"]
        self.calls_total += len(model_calls)
        self.calls_valid += sum(1 for s in model_calls if s.error is None)


def _output(turn: Any) -> dict[str, Any]:
    """What the last turn produced, as recorded in the run."""
    return {
        "reply": turn.reply, "products": [c.id for c in turn.products], "intent": turn.intent,
        "action": turn.action, "tools_called": turn.tools_called(), "used_model": turn.used_model,
        "fallback": turn.fallback,
        "model_calls": [{"name": s.name, "args": s.args, "error": s.error} for s in turn.trace if s.kind == "model"],
    }


def _play(agent: Any, case: Case, tally: _Tally) -> Any:
    session = None
    last = None
    for message in (m for m in case.messages if m.role == "user"):
        start = time.perf_counter()
        last = agent.respond(message.content, session_id=session, user_id=case.user_id)
        tally.add(last, (time.perf_counter() - start) * 1000)
        session = last.session_id
    if last is None:
        raise ValueError("the conversation has no user message")
    return last


def run_case(agent: Any, case: Case, index: int, tally: _Tally) -> CaseRecord:
    """Play one conversation and score its last turn; an exception becomes a failed record."""
    base = {"id": case_id(case, index, NAME), "input": [m.content for m in case.messages if m.role == "user"],
            "expected": case.expect.model_dump(exclude_defaults=True)}
    start = time.perf_counter()
    try:
        last = _play(agent, case, tally)
    except Exception as exc:  # noqa: BLE001 - a broken case is recorded and the run goes on
        return CaseRecord(**base, passed=False, error=error_text(exc),
                          latency_ms=round((time.perf_counter() - start) * 1000, 1))
    results = check(last, case.expect)
    labels = {"expected": case.expect.intent, "predicted": last.intent} if case.expect.intent else {}
    return CaseRecord(**base, passed=all(p is None for p in results.values()),
                      scores={k: v is None for k, v in results.items()},
                      latency_ms=round((time.perf_counter() - start) * 1000, 1), output=_output(last),
                      labels=labels, failures=[f"{k}: {v}" for k, v in results.items() if v])


def _metrics(records: list[CaseRecord], tally: _Tally, agent: Any, use_model: bool) -> dict[str, Any]:
    n = len(records)
    per_check: dict[str, list[bool]] = {}
    for r in records:
        for name, ok in r.scores.items():
            per_check.setdefault(name, []).append(bool(ok))
    failures = [{"id": r.id, "error": r.error} if r.error else
                {"id": r.id, "problems": dict(f.split(": ", 1) for f in r.failures)}
                for r in records if not r.passed]
    t = tally
    return {
        "cases": n, "pass_rate": round(sum(r.passed for r in records) / n, 3) if n else 0.0,
        "failed": sum(r.error is not None for r in records), "turns": t.turns,
        **{f"check_{k}": round(sum(v) / len(v), 3) for k, v in sorted(per_check.items())},
        "tool_call_validity": round(t.calls_valid / t.calls_total, 3) if t.calls_total else None,
        "model_tool_calls": t.calls_total,
        "fallback_rate": round(t.fallbacks / t.model_turns, 3) if t.model_turns else 0.0,
        "fallback_reasons": dict(sorted(t.reasons.items(), key=lambda kv: -kv[1])),
        "answered_rate": round(t.answered / t.turns, 3) if t.turns else 0.0,
        "turn_p50_ms": round(percentile(t.turn_ms, 50), 1) if t.turn_ms else None,
        "turn_p95_ms": round(percentile(t.turn_ms, 95), 1) if t.turn_ms else None,
        "first_token_p50_ms": round(percentile(t.first_ms, 50), 1) if t.first_ms else None,
        "first_token_p95_ms": round(percentile(t.first_ms, 95), 1) if t.first_ms else None,
        "use_model": use_model, "tool_calls": agent.tool_calls,
        "failures": failures,
    }


def run_cases(assistant: Any, dataset: Dataset, use_model: bool = True, tool_calls: str | None = None,
              on_case: CaseCallback | None = None, **_: Any) -> SuiteResult:
    """Play every conversation; per-case records plus pass rates, validity, fallback and latency figures."""
    from assistant.agent import Agent

    agent = Agent(assistant, use_model=use_model, tool_calls=tool_calls)  # type: ignore[arg-type]
    if any((c.user_id or "").startswith("demo-") for c in dataset.cases):
        assistant.ensure_demo_users()  # the demo shoppers' synthetic histories, reset before every run
    tally = _Tally()
    records = [notify(on_case, run_case(agent, case, i, tally)) for i, case in enumerate(dataset.cases)]
    return SuiteResult(metrics=_metrics(records, tally, agent, use_model), cases=records)


def run(assistant: Any, dataset: Dataset, progress: bool = False, use_model: bool = True,
        tool_calls: str | None = None, **options: Any) -> dict[str, Any]:
    """Play every conversation; return pass rates, validity, fallback and latency figures."""
    return run_cases(assistant, dataset, use_model=use_model, tool_calls=tool_calls, **options).metrics
