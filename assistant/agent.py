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

import time
import uuid
from collections.abc import Callable
from typing import Any

from assistant.agent_grounding import ground, merge
from assistant.agent_model import ModelCalls, Reply
from assistant.agent_text import reason_text, relaxed_note, suggestions_for, summary
from assistant.agent_types import (
    AgentTurn,
    ProductCard,
    Suggestion,
    ToolCallPolicy,
    TraceStep,
    Turn,
    short,
)
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
from assistant.types import Product, SearchFilters, SearchHit
from assistant.validation import clean_query

# below this intent probability, a service label does not override a product category named in the message
SERVICE_MIN_PROBABILITY = 0.5

__all__ = ["Agent", "AgentTurn", "ProductCard", "Suggestion", "ToolCallPolicy", "TraceStep", "ground", "merge",
           "relaxed_note", "suggestions_for"]


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
        self.model = ModelCalls(assistant, use_model=use_model, reply_tokens=reply_tokens, timeout_s=self.timeout_s)

    # ------------------------------------------------------------------ public
    def prime_model(self) -> int:
        """Keep the fixed head of the reply prompts evaluated in the chat model (where the model can), so the
        first reply in each language is as quick as the later ones; the number of tokens kept."""
        return self.model.prime()

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
        turn = Turn(text, state, on_token)
        turn.correct = self.assistant.settings.correct_spelling if correct_spelling is None else correct_spelling
        result = self._run(turn)
        state.remember("user", text)
        state.remember("assistant", result.reply)
        sessions.save(state)
        result.total_ms = round((time.perf_counter() - turn.started) * 1000, 1)
        result.first_token_ms = turn.first_token_ms
        return result

    # ------------------------------------------------------------------ the turn
    def _run(self, turn: Turn) -> AgentTurn:
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
        unsure = intent is not None and intent.probability < SERVICE_MIN_PROBABILITY
        action = interpret(turn.state, corrected, parsed, label, unsure=unsure)
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

    def _search_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        search = action.search or new_search(turn.message, None)
        wants_model = self.use_model and (self.tool_calls == "always" or
                                          (self.tool_calls == "auto" and not action.certain))
        if wants_model:
            proposed = self.model.search_call(turn, search)
            if proposed is not None:
                search = merge(proposed, search if action.certain else None)
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
        reply = self.model.reply(turn, "reply", variables, [self._product(c.id) for c in cards])
        return AgentTurn(**base, **_reply_fields(reply), products=cards, filters=used, relaxed=relaxed,
                         refinements=action.refinements, expansions=rewrites,
                         suggestions=[*(Suggestion(label=r, message=r, kind="rewrite") for r in rewrites[:3]),
                                      *suggestions_for(cards, used, lang)][:10],
                         trace=turn.trace, notes=turn.notes)

    def _compare_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
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
        reply = self.model.reply(turn, "comparison", variables, products)
        return AgentTurn(**base, **_reply_fields(reply), products=cards, trace=turn.trace, notes=turn.notes)

    def _product_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        product = self._product(action.product_ids[0]) if action.product_ids else None
        self._record_tool(turn, "get_product", {"product_id": action.product_ids[0] if action.product_ids else ""},
                          product.title[:60] if product else "not found")
        if product is None:
            return self._clarify_turn(turn, base)
        card = ProductCard.of(product)
        variables = {"message": turn.message, "product": product.model_dump()}
        reply = self.model.reply(turn, "product", variables, [product])
        return AgentTurn(**base, **_reply_fields(reply), products=[card], trace=turn.trace, notes=turn.notes)

    def _clarify_turn(self, turn: Turn, base: dict[str, Any]) -> AgentTurn:
        lang = turn.state.lang
        options = self._clarify_options(turn, lang)
        variables = {"message": turn.message, "options": options}
        # the question is templated: its options come from the catalog, and a small model asked to write it
        # tends to answer a question nobody asked instead
        if self.model_clarify:
            reply = self.model.reply(turn, "clarification", variables, [])
        else:
            reply = Reply(text=self.assistant.prompts.render("clarification", "templated", lang, **variables))
            turn.emit(reply.text)
        chips = [Suggestion(label=o, message=o, kind="category") for o in options]
        return AgentTurn(**base | {"action": "clarify"}, **_reply_fields(reply), clarification=True,
                         suggestions=chips, trace=turn.trace, notes=turn.notes)

    def _service_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
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
    def _tool(self, turn: Turn, name: str, args: dict[str, Any], fn: Callable[[], Any]) -> Any:
        with turn.step("tool", name, args) as record:
            value = fn()
            record.result = summary(value)
        return value

    def _record_tool(self, turn: Turn, name: str, args: dict[str, Any], result: str) -> None:
        turn.trace.append(TraceStep(kind="tool", name=name, args=args, result=result))

    def _parse(self, text: str) -> Any:
        return self.assistant.attribute_parser.parse(text) if self.assistant.settings.parse_attributes else None

    def _product(self, product_id: str) -> Product | None:
        return next(iter(self.assistant.store.products_by_id([product_id])), None)

    def _search(self, turn: Turn, search: SearchState, k: int | None = None) -> tuple[list[SearchHit],
                                                                                        SearchFilters, list[str]]:
        from assistant.pipeline import search_with_relaxation
        from tools.product_kind import default_lexicon

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
            kind = default_lexicon().kind_of(search.text or turn.message)
            record.result += f"; kind {kind}" if kind else ""
        return hits, used, relaxed

    def _expansions(self, turn: Turn, search: SearchState, hits: list[SearchHit],
                    used: SearchFilters) -> list[str]:
        """Verified rewrites of the search (cached; lexicon and query log, no model), offered as next steps."""
        a = self.assistant
        if not a.settings.expand_queries or not hits or not search.text:
            return []
        expander = self._expander(turn)
        try:
            with turn.step("tool", "expand_query", {"query": search.text}) as record:
                _, accepted = expander.search_expanded(
                    search.text, hits, used, search.boost_categories or None, self.k)
                record.result = ", ".join(r.text for r in accepted) or "no verified rewrite"
        except ShopqueryError as exc:
            turn.notes.append(f"query expansion unavailable ({short(exc)})")
            return []
        return [r.text for r in accepted]

    def _personalize(self, turn: Turn, query: str, hits: list[SearchHit]) -> list[ProductCard]:
        """Re-rank by the shopper's history (brands, categories, price band, items bought together) when the
        turn has a user; otherwise keep the search order. A history store that fails leaves the search order."""
        user_id = turn.state.user_id
        if not user_id or not hits:
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        from tools.recommend import recommend

        a = self.assistant
        try:
            profile = self._profile(turn)
            with turn.step("tool", "recommend_products", {"query": query, "user_id": user_id, "k": self.k}) as rec:
                recs = recommend(hits, profile, a.item_model(), k=self.k, lang=turn.state.lang,
                                 lookup=a.store.products_by_id)
                rec.result = f"{len(recs)} products"
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({short(exc)}); products in search order")
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        return [ProductCard.of(r.product, reason=reason_text(r.reasons, turn.state.lang), score=r.score)
                for r in recs]

    def _record_search(self, turn: Turn, text: str) -> None:
        """Remember the search in the shopper's history (a history that fails costs the turn nothing)."""
        if not turn.state.user_id:
            return
        try:
            self.assistant.history.record({"user_id": turn.state.user_id, "type": "search", "query": text[:500]})
        except ShopqueryError as exc:
            turn.notes.append(f"could not record the search ({short(exc)})")

    def _recent_items(self, turn: Turn) -> list[str]:
        user_id = turn.state.user_id
        if not user_id:
            return []
        try:
            profile = self._profile(turn)
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({short(exc)})")
            return []
        ids = [*profile.recently_purchased, *profile.recently_viewed][:3]
        return [p.title[:40] for p in self.assistant.store.products_by_id(ids)]

    def _profile(self, turn: Turn) -> Any:
        """The shopper's history profile, read once per turn (traced as lookup_user_history); a history that
        failed raises the same error again to every later use in the turn."""
        if "profile" not in turn.lookups:
            a, user_id = self.assistant, turn.state.user_id
            try:
                turn.lookups["profile"] = self._tool(turn, "lookup_user_history", {"user_id": user_id},
                                                     lambda: a.history.profile(user_id, a.store.products_by_id))
            except ShopqueryError as exc:
                turn.lookups["profile"] = exc
        found = turn.lookups["profile"]
        if isinstance(found, ShopqueryError):
            raise found
        return found

    def _expander(self, turn: Turn) -> Any:
        """The expander, biased to the shopper's preferred brands and categories when their history has any
        (the same profile the re-ranking uses); a history that fails leaves the plain expander."""
        expander = self.assistant.expander
        if not turn.state.user_id:
            return expander
        try:
            profile = self._profile(turn)
        except ShopqueryError:
            return expander
        if profile.is_empty:
            return expander
        return expander.with_preferences({"brands": [p.name for p in profile.preferred_brands[:3]],
                                          "categories": [p.name for p in profile.preferred_categories[:3]]})

    def _clarify_options(self, turn: Turn, lang: str) -> list[str]:
        index = self.assistant.store.index
        counts: dict[str, int] = {}
        for product in index.products:
            if product.category and (language_of(product.category) == lang or lang == "en"
                                     and product.currency != "CNY"):
                counts[product.category] = counts.get(product.category, 0) + 1
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        return ranked[:4]


def _reply_fields(reply: Reply) -> dict[str, Any]:
    """The AgentTurn fields that describe the reply."""
    return {"reply": reply.text, "used_model": reply.used_model, "fallback": reply.fallback,
            "reply_replaced": reply.replaced}
