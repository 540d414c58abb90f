"""The conversational agent: one shopper message in, a reply with products (or a clarifying question, or an
answer) out, with every tool call in a trace.

A turn runs the tools in a fixed order that a small model can be trusted with: classify_intent, correct_spelling and
parse_attributes read the message; the dialogue rules (assistant/dialogue.py) read it against the conversation; the
model is asked for a search_catalog call (a named tool call: native where the backend has tools, grammar-constrained
in llama.cpp) when the rules cannot tell what a follow-up means, or on every search turn when `tool_calls="always"`;
its arguments are validated with pydantic, values the conversation does not support are dropped, and a rejected call
goes back to the model with the error, a bounded number of times. Then search, personal re-ranking and the reply,
streamed from the model and checked before it is accepted. Every tool runs as a LangChain tool from the
assistant's tool registry (tools/registry.py), so callbacks given to the agent see each run. Whenever the model is down, slow past the deadline, or
writes something unusable, the turn finishes on the fast path with a templated reply and says why: the shopper
always gets products or an answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from assistant.agent_facts import (
    advice,
    comparison_advice,
    comparison_table,
    found_notes,
    kind_label,
    met_phrases,
)
from assistant.agent_grounding import ground, merge
from assistant.agent_model import ModelCalls, Reply
from assistant.agent_text import (
    category_options,
    in_language,
    relaxed_note,
    suggestions_for,
)
from assistant.agent_tools import TracedParts, TurnTools
from assistant.agent_types import (
    AgentTurn,
    ProductCard,
    Suggestion,
    ToolCallPolicy,
    TraceStep,
    Turn,
)
from assistant.dialogue import (
    REFINEMENT_LABELS,
    Action,
    SessionState,
    interpret,
    language_for,
    new_search,
    without_only,
)
from assistant.dialogue_constraints import track
from assistant.validation import clean_query
from tools.core.errors import InputError, ShopqueryError
from tools.recommend import USER_ID_CHARS
from tools.registry import ToolRegistry
from tools.understand import understand

# below this intent probability, a service label does not override a product category named in the message
SERVICE_MIN_PROBABILITY = 0.5

__all__ = ["Agent", "AgentTurn", "ProductCard", "Suggestion", "ToolCallPolicy", "TraceStep", "ground", "merge",
           "relaxed_note", "suggestions_for"]


class Agent:
    """Conversations over one Assistant (its store, tools and chat model)."""

    def __init__(self, assistant: Any, *, tool_calls: ToolCallPolicy | None = None, k: int = 5,
                 reply_tokens: int = 160, timeout_s: float | None = None, use_model: bool = True,
                 model_clarify: bool = False, callbacks: list[BaseCallbackHandler] | None = None):
        self.assistant = assistant
        self.tools = ToolRegistry(assistant)
        # passed to every tool run: LangChain callback handlers (tracing, logging) see each one
        self.config: RunnableConfig = {"callbacks": list(callbacks)} if callbacks else {}
        settings = assistant.settings
        default_policy: ToolCallPolicy = getattr(settings, "agent_tool_calls", "auto")
        self.tool_calls: ToolCallPolicy = tool_calls or default_policy
        self.k = k
        self.reply_tokens = reply_tokens
        self.timeout_s = timeout_s if timeout_s is not None else getattr(settings, "agent_timeout_s", 20.0)
        self.use_model = use_model
        self.model_clarify = model_clarify  # let the model word clarifying questions (templated by default)
        self.steps = TurnTools(assistant, self.tools, self.config, k)
        self.model = ModelCalls(assistant, self.tools, use_model=use_model, reply_tokens=reply_tokens,
                                timeout_s=self.timeout_s)

    # ------------------------------------------------------------------ public
    def prime_model(self) -> int:
        """Keep the fixed head of the reply prompts evaluated in the chat model (where the model can), so the
        first reply in each language is as quick as the later ones; the number of tokens kept."""
        return self.model.prime()

    def respond(self, message: str | bytes, session_id: str | None = None, user_id: str | None = None,
                on_token: Callable[[str], None] | None = None, *,
                correct_spelling: bool | None = None, max_tokens: int | None = None) -> AgentTurn:
        """Answer one message in a session (a new session when no id is given); InputError for unusable input.
        `correct_spelling=False` searches the words as typed ("search instead for …"); `max_tokens` caps the
        model's reply."""
        text = clean_query(message, self.assistant.settings.max_query_chars)
        check_user_id(user_id)
        sessions = self.assistant.sessions
        session_id = session_id or uuid.uuid4().hex
        state = sessions.load(session_id) or SessionState(session_id=session_id, user_id=user_id)
        if user_id:
            state.user_id = user_id
        turn = self._start(state, text, on_token)
        turn.correct = self.assistant.settings.correct_spelling if correct_spelling is None else correct_spelling
        turn.max_tokens = max_tokens
        result = self._run(turn)
        self._finish(turn, result.reply)
        sessions.save(state)
        result.total_ms = round((time.perf_counter() - turn.started) * 1000, 1)
        result.first_token_ms = turn.first_token_ms
        return result

    def restore(self, session_id: str, history: list[tuple[str, str]], user_id: str | None = None) -> SessionState:
        """Rebuild a conversation from its earlier messages (as an OpenAI-compatible client sends them) and store
        it under `session_id`: the user turns are replayed through the rules and the search (no model, no history
        recorded), so the next message is read against the same state a stored session would have."""
        check_user_id(user_id)
        state = SessionState(session_id=session_id, user_id=user_id)
        for role, content in history:
            if role == "assistant":
                state.remember("assistant", content)
                continue
            try:
                text = clean_query(content, self.assistant.settings.max_query_chars)
            except ShopqueryError:
                continue  # an unusable earlier message is skipped; the current one is checked as usual
            turn = self._start(state, text, None)
            turn.replay = True
            turn.correct = self.assistant.settings.correct_spelling
            self._run(turn)
            self._finish(turn, None)
        self.assistant.sessions.save(state)
        return state

    def respond_with_history(self, message: str | bytes, history: list[tuple[str, str]],
                             user_id: str | None = None, on_token: Callable[[str], None] | None = None) -> AgentTurn:
        """Answer a message whose conversation comes as earlier (role, text) messages instead of a session."""
        session_id = uuid.uuid4().hex
        self.restore(session_id, history, user_id)
        return self.respond(message, session_id=session_id, user_id=user_id, on_token=on_token)

    def _start(self, state: SessionState, text: str, on_token: Callable[[str], None] | None) -> Turn:
        """A new turn of the conversation: the shopper's language and the turn number updated."""
        state.lang = language_for(text, state.lang if state.turn_no else None)
        state.turn_no += 1
        return Turn(text, state, on_token)

    def _finish(self, turn: Turn, reply: str | None) -> None:
        """Remember the turn and record where each constraint of the current search came from."""
        state = turn.state
        state.remember("user", turn.message)
        if reply is not None:
            state.remember("assistant", reply)
        if state.search is not None:
            state.constraints = track(state.constraints, state.search, state.turn_no, turn.inferred)

    # ------------------------------------------------------------------ the turn
    def _run(self, turn: Turn) -> AgentTurn:
        settings = self.assistant.settings
        parts = TracedParts(self.steps, turn)
        refining = turn.state.search is not None
        understood = understand(
            turn.message, intent=parts if settings.classify_intent else None,
            corrector=parts if turn.correct else None, parser=parts if settings.parse_attributes else None,
            # a refinement reads its attributes without "only" words; the message as corrected, not normalised
            parse_text=lambda corrected, _normalized: without_only(corrected) if refining else corrected)
        intent, label, corrected, parsed = (understood.intent, understood.intent_label, understood.corrected,
                                            understood.attributes)
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
        search = rules = action.search or new_search(turn.message, None)
        wants_model = self.use_model and not turn.replay and (
            self.tool_calls == "always" or (self.tool_calls == "auto" and not action.certain))
        if wants_model:
            proposed = self.model.search_call(turn, search)
            if proposed is not None:
                search = merge(proposed, search if action.certain else None)
        found = self.steps.search(turn, search)
        if search is not rules and (not found.hits or found.kind_missing or found.relaxed):
            # verified by retrieval: a model reading that cannot be met is kept only if the rules' reading does
            # no better
            alternative = self.steps.search(turn, rules)
            if _met(alternative) > _met(found):
                turn.trace.append(TraceStep(kind="note", name="rewrite_rejected",
                                            result="the rules' reading meets more of the conversation"))
                search, found = rules, alternative
        if "cheaper" in action.refinements or "pricier" in action.refinements:
            turn.inferred.update({"price_min", "price_max"})
        turn.inferred.update(f"{c.field}_{c.direction}" for c in search.comparatives if c.bound is not None)
        hits, used = found.hits, found.used
        cards = self.steps.personalize(turn, search.text, hits)
        turn.state.search = search
        turn.state.shown = [p for p in (self.steps.product(c.id) for c in cards) if p is not None]
        if turn.replay:
            return AgentTurn(**base, reply="", products=cards, filters=used, relaxed=found.relaxed)
        rewrites = [r for r in self.steps.expansions(turn, search, hits, used) if in_language(r, turn.state.lang)]
        self.steps.record_search(turn, turn.message)
        lang = turn.state.lang
        notes = found_notes(search, found.relaxed, found.unknown, found.kind_missing, lang)
        variables = {"message": turn.message, "products": [c.model_dump() for c in cards], "notes": notes,
                     "corrected": base["corrected_query"], "kind": kind_label(search.kind, lang, len(cards)),
                     "met": met_phrases(search, found.relaxed, found.unknown, lang), "relaxed": found.relaxed,
                     "advice": advice(turn.state.shown, search, lang),
                     "refinements": [REFINEMENT_LABELS[lang].get(r, r) for r in action.refinements],
                     "ask": not action.follow_up and used.is_empty()}
        reply = self.model.reply_with_facts(turn, variables, turn.state.shown)
        return AgentTurn(**base, **_reply_fields(reply), products=cards, filters=used, relaxed=found.relaxed,
                         refinements=action.refinements, expansions=rewrites,
                         suggestions=[*(Suggestion(label=r, message=r, kind="rewrite") for r in rewrites[:3]),
                                      *suggestions_for(cards, used, lang)][:10],
                         trace=turn.trace, notes=turn.notes)

    def _compare_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        ids = list(action.product_ids)
        for term in action.compare_terms:
            found = self.steps.search(turn, new_search(term, self.steps.parse(term)), k=1)
            ids += [h.product.id for h in found.hits[:1] if h.product.id not in ids]
        products = [p for p in (self.steps.product(i) for i in ids) if p is not None]
        self.steps.record(turn, "compare_products", {"product_ids": ids}, f"{len(products)} products")
        if len(products) < 2:
            search = new_search(turn.message, self.steps.parse(turn.message))
            return self._search_turn(turn, Action(kind="search", search=search), base | {"action": "search"})
        cards = [ProductCard.of(p) for p in products]
        turn.state.shown = products
        lang = turn.state.lang
        # the table and its advice come from the products' data only: a small model asked to compare tends to
        # add claims the data does not make ("suitable for gaming and office work")
        variables = {"message": turn.message, "products": [c.model_dump() for c in cards],
                     "cheapest": None, "table": comparison_table(products, lang),
                     "advice": comparison_advice(products, lang)}
        text = self.assistant.prompts.render("comparison", "templated", lang, **variables)
        turn.emit(text)
        return AgentTurn(**base, reply=text, products=cards, trace=turn.trace, notes=turn.notes)

    def _product_turn(self, turn: Turn, action: Action, base: dict[str, Any]) -> AgentTurn:
        product = self.steps.product(action.product_ids[0]) if action.product_ids else None
        self.steps.record(turn, "get_product", {"product_id": action.product_ids[0] if action.product_ids else ""},
                          product.title[:60] if product else "not found")
        if product is None:
            return self._clarify_turn(turn, base)
        card = ProductCard.of(product)
        variables = {"message": turn.message, "product": product.model_dump()}
        reply = self.model.reply(turn, "product", variables, [product])
        return AgentTurn(**base, **_reply_fields(reply), products=[card], trace=turn.trace, notes=turn.notes)

    def _clarify_turn(self, turn: Turn, base: dict[str, Any]) -> AgentTurn:
        lang = turn.state.lang
        options = category_options(self.assistant.store.index.products, lang)
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
            recent = self.steps.recent_items(turn)
            reply = prompts.render("service", "service", lang, intent=base["intent"], recent=recent)
        turn.emit(reply)
        return AgentTurn(**base, reply=reply, trace=turn.trace, notes=turn.notes)


def _met(found: Any) -> tuple[bool, bool, int]:
    """How well a search met its reading: found anything, found the kind, fewest constraints relaxed."""
    return bool(found.hits), not found.kind_missing, -len(found.relaxed)


def _reply_fields(reply: Reply) -> dict[str, Any]:
    """The AgentTurn fields that describe the reply."""
    return {"reply": reply.text, "used_model": reply.used_model, "fallback": reply.fallback,
            "reply_replaced": reply.replaced}


def check_user_id(user_id: str | None) -> None:
    """InputError for a user id the history tools refuse (over USER_ID_CHARS characters)."""
    if user_id is not None and len(user_id) > USER_ID_CHARS:
        raise InputError(f"a user id must be at most {USER_ID_CHARS} characters (got {len(user_id)})")
