"""The conversational agent: one shopper message in, a reply with products (or a clarifying question, or an
answer) out, with every tool call in a trace.

A turn runs the tools in a fixed order that a small model can be trusted with: classify_intent, correct_spelling and
parse_attributes read the message; the dialogue rules (assistant/dialogue.py) read it against the conversation; the
model is asked for a search_catalog call (a named tool call: native where the backend has tools, grammar-constrained
in llama.cpp) when the rules cannot tell what a follow-up means, or on every search turn when `tool_calls="always"`;
its arguments are validated with pydantic, values the conversation does not support are dropped, and a rejected call
goes back to the model with the error, a bounded number of times. Then search, personal re-ranking and the reply,
streamed from the model and checked before it is accepted. Whenever the model is down, slow past the deadline, or
writes something unusable, the turn finishes on the fast path with a templated reply and says why: the shopper
always gets products or an answer."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.dialogue import (
    REFINEMENT_LABELS,
    Action,
    SearchState,
    SessionState,
    interpret,
    language_of,
    new_search,
)
from assistant.errors import ShopqueryError
from assistant.replies import reply_problem
from assistant.types import Product, SearchFilters, SearchHit
from assistant.validation import clean_query
from tools.catalog_search import SearchCatalogInput

ToolCallPolicy = Literal["auto", "always", "never"]
MAX_TOOL_RETRIES = 2
TOOL_CALL_TOKENS = 120


class TraceStep(BaseModel):
    """One step of a turn: a tool call (by the policy or by the model), a model call, a fallback or a note."""

    kind: Literal["tool", "model", "fallback", "note"]
    name: str
    source: Literal["policy", "model"] = "policy"
    args: dict[str, Any] = Field(default_factory=dict)
    result: str | None = Field(default=None, description="a short summary of what came back")
    error: str | None = None
    ms: float = 0.0


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


class _Turn:
    """Mutable working state of one turn."""

    def __init__(self, message: str, state: SessionState, on_token: Callable[[str], None] | None):
        self.started = time.perf_counter()
        self.message = message
        self.state = state
        self.on_token = on_token
        self.trace: list[TraceStep] = []
        self.notes: list[str] = []
        self.first_token_ms: float | None = None
        self.correct = True

    @contextmanager
    def step(self, kind: str, name: str, args: dict[str, Any] | None = None,
             source: str = "policy") -> Iterator[TraceStep]:
        """Record a timed step; an exception inside is recorded as the step's error and re-raised."""
        record = TraceStep(kind=kind, name=name, args=args or {}, source=source)  # type: ignore[arg-type]
        start = time.perf_counter()
        try:
            yield record
        except Exception as exc:
            record.error = _short(exc)
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


class Agent:
    """Conversations over one Assistant (its store, tools and chat model)."""

    def __init__(self, assistant: Any, *, tool_calls: ToolCallPolicy | None = None, k: int = 5,
                 reply_tokens: int = 160, timeout_s: float | None = None, use_model: bool = True,
                 model_clarify: bool = False):
        self.assistant = assistant
        settings = assistant.settings
        self.tool_calls: ToolCallPolicy = tool_calls or getattr(settings, "agent_tool_calls", "auto")
        self.k = k
        self.reply_tokens = reply_tokens
        self.timeout_s = timeout_s if timeout_s is not None else getattr(settings, "agent_timeout_s", 20.0)
        self.use_model = use_model
        self.model_clarify = model_clarify  # let the model word clarifying questions (templated by default)

    # ------------------------------------------------------------------ public
    def respond(self, message: str | bytes, session_id: str | None = None, user_id: str | None = None,
                on_token: Callable[[str], None] | None = None, *,
                correct_spelling: bool | None = None) -> AgentTurn:
        """Answer one message in a session (a new session when no id is given); InputError for unusable input.
        `correct_spelling=False` searches the words as typed ("search instead for …")."""
        text = clean_query(message, self.assistant.settings.max_query_chars)
        sessions = self.assistant.sessions
        session_id = session_id or uuid.uuid4().hex
        state = sessions.load(session_id) or SessionState(session_id=session_id, user_id=user_id)
        if user_id:
            state.user_id = user_id
        state.lang = language_of(text) if any(ch.isalpha() for ch in text) else state.lang
        turn = _Turn(text, state, on_token)
        turn.correct = self.assistant.settings.correct_spelling if correct_spelling is None else correct_spelling
        result = self._run(turn)
        state.remember("user", text)
        state.remember("assistant", result.reply)
        sessions.save(state)
        result.total_ms = round((time.perf_counter() - turn.started) * 1000, 1)
        result.first_token_ms = turn.first_token_ms
        return result

    # ------------------------------------------------------------------ the turn
    def _run(self, turn: _Turn) -> AgentTurn:
        a = self.assistant
        settings = a.settings
        intent = self._tool(turn, "classify_intent", {"query": turn.message},
                            lambda: a.intent_classifier.predict(turn.message)) if settings.classify_intent else None
        label = intent.label if intent is not None else None
        corrected = turn.message
        if turn.correct:
            fixed = self._tool(turn, "correct_spelling", {"query": turn.message},
                               lambda: a.corrector.correct(turn.message))
            if fixed.changed:
                corrected = fixed.corrected
        parsed = self._tool(turn, "parse_attributes", {"query": corrected},
                            lambda: a.attribute_parser.parse(corrected)) if settings.parse_attributes else None
        action = interpret(turn.state, corrected, parsed, label)
        base = dict(session_id=turn.state.session_id, user_id=turn.state.user_id, message=turn.message,
                    lang=turn.state.lang, intent=label, action=action.kind,
                    corrected_query=corrected if corrected != turn.message else None)
        if action.kind == "search":
            return self._search_turn(turn, action, base)
        if action.kind == "compare":
            return self._compare_turn(turn, action, base)
        if action.kind == "product_info":
            return self._product_turn(turn, action, base)
        if action.kind == "clarify":
            return self._clarify_turn(turn, base)
        return self._service_turn(turn, action, base)

    def _search_turn(self, turn: _Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        search = action.search or new_search(turn.message, None)
        wants_model = self.use_model and (self.tool_calls == "always" or
                                          (self.tool_calls == "auto" and not action.certain))
        if wants_model:
            proposed = self._model_search_call(turn, search)
            if proposed is not None:
                search = _merge(proposed, search if action.certain else None)
        hits, used, relaxed = self._search(turn, search)
        rewrites = self._expansions(turn, search, hits, used)
        cards = self._personalize(turn, search.text, hits)
        self._record_search(turn, turn.message)
        turn.state.search = search
        turn.state.shown = [self._product(c.id) for c in cards]
        lang = turn.state.lang
        notes = [relaxed_note(relaxed, lang)] if relaxed else []
        variables = {"message": turn.message, "products": [c.model_dump() for c in cards], "notes": notes,
                     "corrected": base["corrected_query"],
                     "refinements": [REFINEMENT_LABELS[lang].get(r, r) for r in action.refinements],
                     "ask": not action.follow_up and used.is_empty()}
        reply, used_model, fallback, replaced = self._reply(turn, "reply", variables, [self._product(c.id)
                                                                                        for c in cards])
        return AgentTurn(**base, reply=reply, products=cards, used_model=used_model, fallback=fallback,
                         reply_replaced=replaced, filters=used, relaxed=relaxed, refinements=action.refinements,
                         expansions=rewrites,
                         suggestions=[*(Suggestion(label=r, message=r, kind="rewrite") for r in rewrites[:3]),
                                      *suggestions_for(cards, used, lang)][:10],
                         trace=turn.trace, notes=turn.notes)

    def _compare_turn(self, turn: _Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        ids = list(action.product_ids)
        for term in action.compare_terms:
            hits, _, _ = self._search(turn, new_search(term, self._parse(term)), k=1)
            ids += [h.product.id for h in hits[:1] if h.product.id not in ids]
        products = [p for p in (self._product(i) for i in ids) if p is not None]
        self._record_tool(turn, "compare_products", {"product_ids": ids}, f"{len(products)} products")
        if len(products) < 2:
            search = new_search(turn.message, self._parse(turn.message))
            return self._search_turn(turn, Action(kind="search", search=search), base | {"action": "search"})
        cards = [ProductCard.of(p) for p in products]
        turn.state.shown = products
        cheapest = min((p for p in products if p.price is not None), key=lambda p: p.price, default=None)
        variables = {"message": turn.message, "products": [c.model_dump() for c in cards],
                     "cheapest": cheapest.title[:60] if cheapest else None}
        reply, used_model, fallback, replaced = self._reply(turn, "comparison", variables, products)
        return AgentTurn(**base, reply=reply, products=cards, used_model=used_model, fallback=fallback,
                         reply_replaced=replaced, trace=turn.trace, notes=turn.notes)

    def _product_turn(self, turn: _Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        product = self._product(action.product_ids[0]) if action.product_ids else None
        self._record_tool(turn, "get_product", {"product_id": action.product_ids[0] if action.product_ids else ""},
                          product.title[:60] if product else "not found")
        if product is None:
            return self._clarify_turn(turn, base)
        card = ProductCard.of(product)
        variables = {"message": turn.message, "product": product.model_dump()}
        reply, used_model, fallback, replaced = self._reply(turn, "product", variables, [product])
        return AgentTurn(**base, reply=reply, products=[card], used_model=used_model, fallback=fallback,
                         reply_replaced=replaced, trace=turn.trace, notes=turn.notes)

    def _clarify_turn(self, turn: _Turn, base: dict[str, Any]) -> AgentTurn:
        lang = turn.state.lang
        options = self._clarify_options(turn, lang)
        variables = {"message": turn.message, "options": options}
        # the question is templated: its options come from the catalog, and a small model asked to write it
        # tends to answer a question nobody asked instead
        if self.model_clarify:
            reply, used_model, fallback, replaced = self._reply(turn, "clarification", variables, [])
        else:
            reply = self.assistant.prompts.render("clarification", "templated", turn.state.lang, **variables)
            turn.emit(reply)
            used_model, fallback, replaced = False, None, False
        chips = [Suggestion(label=o, message=o, kind="category") for o in options]
        return AgentTurn(**base | {"action": "clarify"}, reply=reply, clarification=True, used_model=used_model,
                         fallback=fallback, reply_replaced=replaced, suggestions=chips, trace=turn.trace,
                         notes=turn.notes)

    def _service_turn(self, turn: _Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        lang = turn.state.lang
        prompts = self.assistant.prompts
        if action.kind == "smalltalk":
            name = "out_of_scope" if "out_of_scope" in action.refinements else "smalltalk"
            reply = prompts.render("service", name, lang)
        else:
            recent = self._recent_items(turn)
            reply = prompts.render("service", "service", lang, intent=base["intent"], recent=recent)
        turn.emit(reply)
        return AgentTurn(**base, reply=reply, trace=turn.trace, notes=turn.notes)

    # ------------------------------------------------------------------ tools
    def _tool(self, turn: _Turn, name: str, args: dict[str, Any], fn: Callable[[], Any]) -> Any:
        with turn.step("tool", name, args) as record:
            value = fn()
            record.result = _summary(value)
        return value

    def _record_tool(self, turn: _Turn, name: str, args: dict[str, Any], result: str) -> None:
        turn.trace.append(TraceStep(kind="tool", name=name, args=args, result=result))

    def _parse(self, text: str) -> Any:
        return self.assistant.attribute_parser.parse(text) if self.assistant.settings.parse_attributes else None

    def _product(self, product_id: str) -> Product | None:
        return next(iter(self.assistant.store.products_by_id([product_id])), None)

    def _search(self, turn: _Turn, search: SearchState, k: int | None = None) -> tuple[list[SearchHit],
                                                                                        SearchFilters, list[str]]:
        from assistant.pipeline import search_with_relaxation

        k = k or self.k
        args = {"query": search.text, **search.filters.model_dump(exclude_defaults=True),
                **({"boost_categories": search.boost_categories} if search.boost_categories else {})}
        depth = k + len(search.exclude_ids) + (10 if turn.state.user_id else 0)
        with turn.step("tool", "search_catalog", args) as record:
            hits, used, relaxed = search_with_relaxation(self.assistant.store, search.text or turn.message,
                                                         search.filters, depth, "hybrid",
                                                         search.boost_categories or None)
            hits = [h for h in hits if h.product.id not in set(search.exclude_ids)]
            record.result = f"{len(hits)} products" + (f"; relaxed {', '.join(relaxed)}" if relaxed else "")
        return hits, used, relaxed

    def _expansions(self, turn: _Turn, search: SearchState, hits: list[SearchHit],
                    used: SearchFilters) -> list[str]:
        """Verified rewrites of the search (cached; lexicon and query log, no model), offered as next steps."""
        a = self.assistant
        if not a.settings.expand_queries or not hits or not search.text:
            return []
        try:
            with turn.step("tool", "expand_query", {"query": search.text}) as record:
                _, accepted = a.expander_for(turn.state.user_id).search_expanded(
                    search.text, hits, used, search.boost_categories or None, self.k)
                record.result = ", ".join(r.text for r in accepted) or "no verified rewrite"
        except ShopqueryError as exc:
            turn.notes.append(f"query expansion unavailable ({_short(exc)})")
            return []
        return [r.text for r in accepted]

    def _personalize(self, turn: _Turn, query: str, hits: list[SearchHit]) -> list[ProductCard]:
        """Re-rank by the shopper's history (brands, categories, price band, items bought together) when the
        turn has a user; otherwise keep the search order. A history store that fails leaves the search order."""
        user_id = turn.state.user_id
        if not user_id or not hits:
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        from tools.recommend import recommend

        a = self.assistant
        try:
            profile = self._tool(turn, "lookup_user_history", {"user_id": user_id},
                                 lambda: a.history.profile(user_id, a.store.products_by_id))
            with turn.step("tool", "recommend_products", {"query": query, "user_id": user_id, "k": self.k}) as rec:
                recs = recommend(hits, profile, a.item_model(), k=self.k, lang=turn.state.lang,
                                 lookup=a.store.products_by_id)
                rec.result = f"{len(recs)} products"
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({_short(exc)}); products in search order")
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        return [ProductCard.of(r.product, reason=_reason_text(r.reasons, turn.state.lang), score=r.score)
                for r in recs]

    def _record_search(self, turn: _Turn, text: str) -> None:
        """Remember the search in the shopper's history (a history that fails costs the turn nothing)."""
        if not turn.state.user_id:
            return
        try:
            self.assistant.history.record({"user_id": turn.state.user_id, "type": "search", "query": text[:500]})
        except ShopqueryError as exc:
            turn.notes.append(f"could not record the search ({_short(exc)})")

    def _recent_items(self, turn: _Turn) -> list[str]:
        user_id = turn.state.user_id
        if not user_id:
            return []
        a = self.assistant
        try:
            profile = self._tool(turn, "lookup_user_history", {"user_id": user_id},
                                 lambda: a.history.profile(user_id, a.store.products_by_id))
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({_short(exc)})")
            return []
        ids = [*profile.recently_purchased, *profile.recently_viewed][:3]
        return [p.title[:40] for p in a.store.products_by_id(ids)]

    def _clarify_options(self, turn: _Turn, lang: str) -> list[str]:
        index = self.assistant.store.index
        counts: dict[str, int] = {}
        for product in index.products:
            if product.category and (language_of(product.category) == lang or lang == "en"
                                     and product.currency != "CNY"):
                counts[product.category] = counts.get(product.category, 0) + 1
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        return ranked[:4]

    # ------------------------------------------------------------------ the model
    def _model_search_call(self, turn: _Turn, current: SearchState) -> SearchState | None:
        """Ask the model for a search_catalog call; validate and ground it; None when it gives nothing usable."""
        from langchain_core.messages import HumanMessage, SystemMessage

        lang = turn.state.lang
        prompts = self.assistant.prompts
        state_json = json.dumps({"text": current.text, "filters": current.filters.model_dump(exclude_defaults=True)},
                                ensure_ascii=False)
        error: str | None = None
        tool = _search_tool_schema()
        for attempt in range(MAX_TOOL_RETRIES + 1):
            messages = [
                SystemMessage(prompts.render("tool_use", "system", lang)),
                HumanMessage(prompts.render("tool_use", "user", lang, conversation=turn.state.turns[-4:],
                                            search=state_json, message=turn.message, error=error)),
            ]
            with turn.step("model", "search_catalog", {"attempt": attempt + 1}, source="model") as record:
                try:
                    calls = _search_calls(self.assistant.chat_model, tool, messages)
                except Exception as exc:  # noqa: BLE001 - the model is optional here: the rules' search stands
                    record.error = _short(exc)
                    turn.notes.append(f"model tool call failed ({record.error}); using the rules' reading")
                    return None
                if not calls:
                    error = "no tool call in the reply"
                    record.error = error
                    continue
                try:
                    args = SearchCatalogInput.model_validate(calls[0].get("args") or {})
                except ValidationError as exc:
                    error = _short(exc)
                    record.error = f"invalid arguments: {error}"
                    continue
                record.args = {"attempt": attempt + 1, **args.model_dump(exclude_defaults=True)}
            grounded, dropped = ground(args, turn, current)
            if dropped:
                turn.trace.append(TraceStep(kind="note", name="ungrounded_arguments", args=dropped,
                                            result="dropped: the conversation does not mention them"))
            return grounded
        turn.notes.append("the model gave no valid search call; using the rules' reading")
        return None

    def _reply(self, turn: _Turn, family: str, variables: dict[str, Any],
               products: list[Product | None]) -> tuple[str, bool, str | None, bool]:
        """The reply text, whether the model wrote it, why not (if not), and whether streamed text was discarded."""
        prompts = self.assistant.prompts
        lang = turn.state.lang
        facts = [p for p in products if p is not None]
        templated = prompts.render(family, "templated", lang, **variables)
        if not self.use_model:
            turn.emit(templated)
            return templated, False, None, False
        messages = [("system", prompts.render("system", "persona", lang, store_name="shopquery")),
                    ("user", prompts.render(family, "user", lang, **variables))]
        streamed = False
        problem: str | None = None
        text = ""
        with turn.step("model", f"reply:{family}") as record:
            try:
                model = self.assistant.chat_model
                deadline = time.perf_counter() + self.timeout_s
                parts: list[str] = []
                for chunk in model.stream(messages, max_tokens=self.reply_tokens, temperature=0.2):
                    piece = chunk.content if isinstance(chunk.content, str) else ""
                    if piece:
                        parts.append(piece)
                        streamed = True
                        turn.emit(piece)
                    if time.perf_counter() > deadline:
                        problem = f"the model was slower than the {self.timeout_s:g} s deadline"
                        break
                text = "".join(parts).strip()
                said = {k: v for k, v in variables.items() if k not in ("products", "product")}
                context = f"{turn.message} {json.dumps(said, ensure_ascii=False, default=str)}"
                problem = problem or reply_problem(text, lang, facts, context)
            except Exception as exc:  # noqa: BLE001 - model down, timed out or broken: the fast path answers
                problem = f"the model is unavailable ({_short(exc)})"
            record.error = problem
            record.result = f"{len(text)} chars" if not problem else None
        if problem is None:
            return text, True, None, False
        turn.notes.append(f"{problem}; showing the fast-path answer")
        turn.trace.append(TraceStep(kind="fallback", name="templated_reply", result=problem))
        if streamed:
            turn.emit("\n\n")
        turn.emit(templated)
        return templated, False, problem, streamed


_RELAXED_ZH = {"price": "价格", "color": "颜色", "brand": "品牌", "category": "类目"}


def relaxed_note(relaxed: list[str], lang: str) -> str:
    """Tell the shopper which of their constraints nothing matched (and was dropped)."""
    if lang == "zh":
        return "没有同时满足所有条件的商品，已放宽：" + "、".join(_RELAXED_ZH.get(r, r) for r in relaxed)
    return "nothing matched every constraint, so these were relaxed: " + ", ".join(relaxed)


def _search_calls(model: Any, tool: dict[str, Any], messages: list[Any]) -> list[dict[str, Any]]:
    """The model's search_catalog call(s): a named tool call where the model binds tools (native on an
    OpenAI-compatible server, grammar-constrained in llama.cpp), else JSON constrained to the arguments' schema."""
    try:
        bound = model.bind_tools([tool], tool_choice="search_catalog")
    except NotImplementedError:
        from assistant.llm import generate_json

        args = generate_json(model, messages, SearchCatalogInput, retries=0, max_tokens=TOOL_CALL_TOKENS)
        return [{"name": "search_catalog", "args": args}]
    reply = bound.invoke(messages, max_tokens=TOOL_CALL_TOKENS, temperature=0.0)
    return list(getattr(reply, "tool_calls", None) or [])


def _search_tool_schema() -> dict[str, Any]:
    """search_catalog in OpenAI tool format (what the model sees)."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    tool = convert_to_openai_tool(SearchCatalogInput)
    tool["function"]["name"] = "search_catalog"
    tool["function"]["description"] = ("Search the product catalog (Chinese or English) with optional price, "
                                       "brand, category and colour filters.")
    return tool


def _mentioned(value: str, haystack: str) -> bool:
    return value.strip().lower() in haystack


def ground(args: SearchCatalogInput, turn: _Turn, current: SearchState) -> tuple[SearchState, dict[str, Any]]:
    """Keep the model's filter values that the conversation supports; return the search and what was dropped.
    A colour, brand or price counts as supported when the shopper's words or the current search contain it."""
    from tools.colors import colors_in

    said = " ".join([turn.message, *(t["content"] for t in turn.state.turns if t["role"] == "user")]).lower()
    known = current.filters
    dropped: dict[str, Any] = {}
    mentioned = colors_in(said)

    def keep_colors(values: list[str]) -> list[str]:
        out = []
        for color in values:
            c = color.lower()
            if c in known.colors or c in mentioned or c in said:
                out.append(c)
            else:
                dropped.setdefault("colors", []).append(color)
        return out

    brands = [b for b in args.brands if b in known.brands or _mentioned(b, said)]
    if len(brands) != len(args.brands):
        dropped["brands"] = [b for b in args.brands if b not in brands]
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", said)}
    prices: dict[str, float | None] = {}
    for key in ("price_min", "price_max"):
        value = getattr(args, key)
        ok = value is None or value == getattr(known, key) or value in numbers
        prices[key] = value if ok else getattr(known, key)
        if not ok:
            dropped[key] = value
    filters = known.model_copy(update={"colors": keep_colors(args.colors) or known.colors,
                                       "brands": brands or known.brands, **prices})
    text = args.query.strip() or current.text
    boost = args.categories or current.boost_categories
    return SearchState(text=text, filters=filters, boost_categories=boost,
                       exclude_ids=current.exclude_ids), dropped


def _merge(model: SearchState, rules: SearchState | None) -> SearchState:
    """The model's grounded search, with every constraint the rules read from the message winning over it."""
    if rules is None:
        return model
    update = {k: v for k, v in rules.filters.model_dump().items() if v not in (None, [])}
    filters = model.filters.model_copy(update=update)
    return SearchState(text=model.text or rules.text, filters=filters,
                       boost_categories=rules.boost_categories or model.boost_categories,
                       exclude_ids=sorted({*model.exclude_ids, *rules.exclude_ids}))


def suggestions_for(cards: list[ProductCard], used: SearchFilters, lang: str) -> list[Suggestion]:
    """Chips for the next step: a cheaper band, colours and brands present among the results."""
    out: list[Suggestion] = []
    prices = sorted(c.price for c in cards if c.price)
    if len(prices) >= 2:
        limit = int(prices[len(prices) // 2])
        currency = next((c.currency for c in cards if c.currency), None)
        if lang == "zh":
            out.append(Suggestion(label=f"{limit}元以内", message=f"{limit}元以内", kind="price"))
        else:
            sign = "$" if currency in (None, "USD") else f"{currency} "
            out.append(Suggestion(label=f"under {sign}{limit}", message=f"under {sign}{limit}", kind="price"))
    colors = [c.color for c in cards if c.color and c.color not in used.colors]
    for color in dict.fromkeys(colors):
        message = f"{_ZH_COLOR.get(color, color)}的" if lang == "zh" else f"{color} ones"
        out.append(Suggestion(label=message, message=message, kind="color"))
    brands = [c.brand for c in cards if c.brand and c.brand not in used.brands]
    for brand in list(dict.fromkeys(brands).keys())[:3]:
        out.append(Suggestion(label=brand, message=brand, kind="brand"))
    return out[:8]


_ZH_COLOR = {"black": "黑色", "white": "白色", "red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色",
             "pink": "粉色", "purple": "紫色", "grey": "灰色", "gray": "灰色", "brown": "棕色", "orange": "橙色",
             "silver": "银色", "gold": "金色", "navy": "藏青色", "beige": "米色"}


def _summary(value: Any) -> str:
    if hasattr(value, "label") and hasattr(value, "probability"):
        return f"{value.label} ({value.probability:.2f})"
    if hasattr(value, "corrected") and hasattr(value, "changed"):
        return f"-> {value.corrected}" if value.changed else "no change"
    if hasattr(value, "event_count") and hasattr(value, "preferred_brands"):
        brands = ", ".join(p.name for p in value.preferred_brands[:3]) or "-"
        return f"{value.event_count} events; brands: {brands}; {len(value.recent_queries)} recent queries"
    if hasattr(value, "to_filters"):
        slots = value.model_dump(exclude={"spans", "rest"}, exclude_defaults=True)
        return json.dumps(slots, ensure_ascii=False) if slots else "no attributes"
    return str(value)[:120]


def _reason_text(reasons: list[str], lang: str) -> str:
    return ("；" if lang == "zh" else "; ").join(reasons)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:240] or type(exc).__name__

