"""The agent's two uses of the chat model: a search_catalog call written by the model (validated, grounded, retried
a bounded number of times) and the reply to the shopper (streamed, checked, replaced by the templated reply when
it cannot be shown). The fixed head of the reply prompts can be kept evaluated in the model (`prime`), so that a
reply evaluates only the products and the message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from assistant.agent_grounding import ground
from assistant.agent_types import TraceStep, Turn, short
from assistant.dialogue import SearchState
from assistant.reply_checks import reply_problem
from tools.catalog_search import SearchCatalogInput
from tools.core.types import Product
from tools.registry import ToolRegistry

MAX_TOOL_RETRIES = 2
TOOL_CALL_TOKENS = 120
REPLY_TEMPERATURE = 0.2
PRIMED_FAMILIES = ("reply",)
ADVICE_TOKENS = 64  # one sentence of advice after the facts


class Reply(BaseModel):
    """What a turn answers with: the text, whether the model wrote it, why not, and whether streamed model
    text was discarded for it."""

    text: str
    used_model: bool = False
    fallback: str | None = None
    replaced: bool = False


class ModelCalls:
    """The model side of a turn, over one Assistant (its prompts and chat model)."""

    def __init__(self, assistant: Any, tools: ToolRegistry, *, use_model: bool, reply_tokens: int,
                 timeout_s: float):
        self.assistant = assistant
        self.tools = tools
        self.use_model = use_model
        self.reply_tokens = reply_tokens
        self.timeout_s = timeout_s
        self._primed: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ prompt heads
    def prime(self, langs: tuple[str, ...] = ("zh", "en")) -> int:
        """Keep the fixed head of the reply prompts evaluated in the model (a model that cannot, or is down,
        is left as it is); returns the tokens kept per prompt, summed."""
        if not self.use_model:
            return 0
        return sum(self._prime(family, lang) for family in PRIMED_FAMILIES for lang in langs)

    def _prime(self, family: str, lang: str) -> int:
        if (family, lang) in self._primed:
            return 0
        self._primed.add((family, lang))
        try:
            keep = getattr(self.assistant.chat_model, "keep_prefix", None)
            if keep is None:
                return 0
            base = self.assistant.prompts.samples(family)
            samples = [self.reply_messages(family, lang, {**base, **variables}) for variables in _HEAD_SAMPLES]
            return int(keep(samples))
        except Exception:  # noqa: BLE001 - keeping a prefix only saves time; a turn reports a missing or broken model
            return 0

    def reply_messages(self, family: str, lang: str, variables: dict[str, Any]) -> list[tuple[str, str]]:
        """The chat messages of a reply prompt: the persona, then the family's user prompt."""
        prompts = self.assistant.prompts
        return [("system", prompts.render("system", "persona", lang, store_name="shopquery")),
                ("user", prompts.render(family, "user", lang, **variables))]

    # ------------------------------------------------------------------ search call
    def search_call(self, turn: Turn, current: SearchState) -> SearchState | None:
        """Ask the model for a search_catalog call; validate and ground it; None when it gives nothing usable."""
        from langchain_core.messages import HumanMessage, SystemMessage

        lang = turn.state.lang
        prompts = self.assistant.prompts
        state_json = json.dumps({"text": current.text, "filters": current.filters.model_dump(exclude_defaults=True)},
                                ensure_ascii=False)
        error: str | None = None
        [tool] = self.tools.schemas(["search_catalog"])
        for attempt in range(MAX_TOOL_RETRIES + 1):
            messages = [
                SystemMessage(prompts.render("tool_use", "system", lang)),
                HumanMessage(prompts.render("tool_use", "user", lang, conversation=turn.state.turns[-4:],
                                            search=state_json, message=turn.message, error=error)),
            ]
            with turn.step("model", "search_catalog", {"attempt": attempt + 1}, source="model") as record:
                try:
                    calls = search_calls(self.assistant.chat_model, tool, messages, on_reply=record.add_usage)
                except Exception as exc:  # noqa: BLE001 - the model is optional here: the rules' search stands
                    record.error = short(exc)
                    turn.notes.append(f"model tool call failed ({record.error}); using the rules' reading")
                    return None
                args, error = _validated(calls)
                if args is None:
                    record.error = error if not calls else f"invalid arguments: {error}"
                    continue
                record.args = {"attempt": attempt + 1, **args.model_dump(exclude_defaults=True)}
            grounded, dropped = ground(args, turn, current)
            if dropped:
                turn.trace.append(TraceStep(kind="note", name="ungrounded_arguments", args=dropped,
                                            result="dropped: the conversation does not mention them"))
            return grounded
        turn.notes.append("the model gave no valid search call; using the rules' reading")
        return None

    # ------------------------------------------------------------------ reply
    def reply(self, turn: Turn, family: str, variables: dict[str, Any],
              products: Sequence[Product | None]) -> Reply:
        """The reply to the shopper: the model's when it passes the checks, else the templated one (with the
        reason). The model's text is checked before any of it is shown, so nothing shown is withdrawn."""
        lang = turn.state.lang
        templated = self.assistant.prompts.render(family, "templated", lang, **variables)
        text, problem = self._checked(turn, family, variables, products)
        if problem is None:
            turn.emit(text)
            return Reply(text=text, used_model=True)
        turn.emit(templated)
        return Reply(text=templated, fallback=problem)

    def reply_with_facts(self, turn: Turn, variables: dict[str, Any],
                         products: Sequence[Product | None]) -> Reply:
        """A search reply: the facts (what the products meet, what was relaxed) shown at once, then one line of
        advice — the model's when it passes the checks, else the templated line."""
        prompts, lang = self.assistant.prompts, turn.state.lang
        facts = prompts.render("reply", "facts", lang, **variables).strip()
        turn.emit(facts)
        if not variables["products"]:
            return Reply(text=facts)
        line, problem = self._checked(turn, "reply", variables, products, max_tokens=ADVICE_TOKENS)
        if problem is not None:
            line = prompts.render("reply", "advice", lang, **variables).strip()
        if line:
            turn.emit("\n" + line)
        return Reply(text=f"{facts}\n{line}".strip(), used_model=problem is None,
                     fallback=None if problem is None or not self.use_model else problem)

    def _checked(self, turn: Turn, family: str, variables: dict[str, Any], products: Sequence[Product | None],
                 max_tokens: int | None = None) -> tuple[str, str | None]:
        """The model's text for a reply prompt, collected (not shown) and checked; the problem, if any."""
        if not self.use_model:
            return "", "no model"
        lang = turn.state.lang
        if family in PRIMED_FAMILIES:
            self._prime(family, lang)
        messages = self.reply_messages(family, lang, variables)
        facts = [p for p in products if p is not None]
        parts: list[str] = []
        text, problem = "", None
        with turn.step("model", f"reply:{family}") as record:
            try:
                problem = self._collect(turn, messages, parts, record, max_tokens)
                text = "".join(parts).strip()
                said = {k: v for k, v in variables.items() if k not in ("products", "product")}
                context = f"{turn.message} {json.dumps(said, ensure_ascii=False, default=str)}"
                problem = problem or reply_problem(text, lang, facts, context, system=messages[0][1],
                                                   relaxed=variables.get("relaxed", ()), message=turn.message)
            except Exception as exc:  # noqa: BLE001 - model down, timed out or broken: the fast path answers
                problem = f"the model is unavailable ({short(exc)})"
            record.error = problem
            record.result = f"{len(text)} chars" if not problem else None
        if problem is not None:
            turn.notes.append(f"{problem}; showing the fast-path answer")
            turn.trace.append(TraceStep(kind="fallback", name="templated_reply", result=problem))
        return text, problem

    def _collect(self, turn: Turn, messages: list[tuple[str, str]], parts: list[str], record: TraceStep,
                 max_tokens: int | None = None) -> str | None:
        """Collect the model's reply in `parts` (nothing is shown yet; the call's token usage goes to `record`);
        the deadline problem, if any."""
        model = self.assistant.chat_model
        deadline = time.perf_counter() + self.timeout_s
        limit = min(max_tokens or self.reply_tokens, self.reply_tokens, turn.max_tokens or self.reply_tokens)
        for chunk in model.stream(messages, max_tokens=limit, temperature=REPLY_TEMPERATURE,
                                  timeout=self.timeout_s):
            record.add_usage(chunk)
            piece = chunk.content if isinstance(chunk.content, str) else ""
            if piece:
                parts.append(piece)
            if time.perf_counter() > deadline:
                return f"the model was slower than the {self.timeout_s:g} s deadline"
        return None


def _validated(calls: list[dict[str, Any]]) -> tuple[SearchCatalogInput | None, str | None]:
    """The first call's arguments, validated; or None and why not."""
    if not calls:
        return None, "no tool call in the reply"
    name = calls[0].get("name")
    if name not in (None, "search_catalog"):
        return None, f"only search_catalog can be called here, not {name!r}"
    try:
        return SearchCatalogInput.model_validate(calls[0].get("args") or {}), None
    except ValidationError as exc:
        return None, short(exc)


# two sets of data for a reply prompt that differ from their first character on: what the two renderings share
# is the prompt's fixed head (the rest of the variables come from the prompt file's samples)
_HEAD_SAMPLES = [
    {"message": "蓝色T恤", "products": [{"title": "夏季纯棉T恤", "brand": "优衣库", "price": 79.0, "currency": "CNY",
                                        "color": "blue", "reason": ""}]},
    {"message": "wireless mouse", "products": [{"title": "Wireless mouse", "brand": None, "price": None,
                                                "currency": None, "color": None, "reason": ""}]},
]


def search_calls(model: Any, tool: dict[str, Any], messages: list[Any],
                 on_reply: Callable[[Any], None] | None = None) -> list[dict[str, Any]]:
    """The model's search_catalog call(s): a named tool call where the model binds tools (native on an
    OpenAI-compatible server, grammar-constrained in llama.cpp), else JSON constrained to the arguments' schema.
    `on_reply` sees the model's reply (its token usage)."""
    try:
        bound = model.bind_tools([tool], tool_choice="search_catalog")
    except NotImplementedError:
        from assistant.llm_base import generate_json

        args = generate_json(model, messages, SearchCatalogInput, retries=0, max_tokens=TOOL_CALL_TOKENS,
                             on_reply=on_reply)
        return [{"name": "search_catalog", "args": args}]
    reply = bound.invoke(messages, max_tokens=TOOL_CALL_TOKENS, temperature=0.0)
    if on_reply is not None:
        on_reply(reply)
    return list(getattr(reply, "tool_calls", None) or [])
