"""The agent's tool steps: each runs tools of the assistant's registry as LangChain tools (with the agent's
callbacks) and is recorded in the turn's trace; a history or expansion that fails costs the turn only its part."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from assistant.agent_text import reason_text, summary
from assistant.agent_types import ProductCard, TraceStep, Turn, short
from assistant.dialogue import SearchState
from assistant.dialogue_search import search_turn, trace_args
from tools.attributes import ParsedAttributes
from tools.core.errors import ShopqueryError
from tools.core.types import Product, SearchFilters, SearchHit
from tools.expansion_select import preferences_of
from tools.intent import IntentPrediction
from tools.registry import ToolRegistry
from tools.spelling import CorrectedQuery


class TurnTools:
    """The tool steps of turns over one Assistant: its registry's tools, run with the agent's config."""

    def __init__(self, assistant: Any, tools: ToolRegistry, config: RunnableConfig, k: int):
        self.assistant = assistant
        self.tools = tools
        self.config = config
        self.k = k

    def run(self, turn: Turn, name: str, args: dict[str, Any]) -> Any:
        """Run a registry tool as a traced step of the turn; its typed result."""
        with turn.step("tool", name, args) as record:
            value = self.tools.call(name, args, self.config)
            record.result = summary(value)
        return value

    def record(self, turn: Turn, name: str, args: dict[str, Any], result: str) -> None:
        """Record a tool step whose work the turn did with values it already holds."""
        turn.trace.append(TraceStep(kind="tool", name=name, args=args, result=result))

    def parse(self, text: str) -> Any:
        """The attributes of a text (not a step of the trace), or None when attribute parsing is off."""
        return self.assistant.attribute_parser.parse(text) if self.assistant.settings.parse_attributes else None

    def product(self, product_id: str) -> Product | None:
        """One product of the catalog by id, or None."""
        return next(iter(self.assistant.store.products_by_id([product_id])), None)

    def search(self, turn: Turn, search: SearchState, k: int | None = None) -> Any:
        """The turn's catalog search (kind, size and comparatives applied; see dialogue_search): one traced
        step, each catalog search in it a run of the search_catalog tool."""
        k = k or self.k
        args = trace_args(search)
        text = search.text or turn.message

        def run(filters: SearchFilters, depth: int) -> list[SearchHit]:
            return self.tools.call("search_catalog", {
                "query": text, "filters": filters, "depth": depth + (10 if turn.state.user_id else 0),
                "boost_categories": search.boost_categories or None}, self.config)

        with turn.step("tool", "search_catalog", args) as record:
            found = search_turn(run, search, k + (10 if turn.state.user_id else 0))
            gaps = found.relaxed + [f"no {u} data" for u in found.unknown]
            record.result = f"{len(found.hits)} products" + (f"; relaxed {', '.join(gaps)}" if gaps else "")
        return found

    def expansions(self, turn: Turn, search: SearchState, hits: list[SearchHit],
                   used: SearchFilters) -> list[str]:
        """Verified rewrites of the search (cached; lexicon and query log, no model), offered as next steps."""
        if not self.assistant.settings.suggest_rewrites or not hits or not search.text:
            return []
        self.tools.tool("expand_query")  # the expander loads here: one that cannot load fails the turn
        preferences = self.preferences(turn)
        try:
            with turn.step("tool", "expand_query", {"query": search.text}) as record:
                accepted = self.tools.call("expand_query", {
                    "query": search.text, "hits": hits, "filters": used, "depth": self.k,
                    "boost_categories": search.boost_categories or None, "preferences": preferences}, self.config)
                record.result = ", ".join(r.text for r in accepted) or "no verified rewrite"
        except ShopqueryError as exc:
            turn.notes.append(f"query expansion unavailable ({short(exc)})")
            return []
        return [r.text for r in accepted]

    def personalize(self, turn: Turn, query: str, hits: list[SearchHit]) -> list[ProductCard]:
        """Re-rank by the shopper's history (brands, categories, price band, items bought together) when the
        turn has a user; otherwise keep the search order. A history store that fails leaves the search order."""
        user_id = turn.state.user_id
        if not user_id or not hits:
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        try:
            profile = self.profile(turn)
            args = {"query": query, "user_id": user_id, "k": self.k}
            with turn.step("tool", "recommend_products", args) as rec:
                recs = self.tools.call("recommend_products", {
                    **args, "candidates": hits, "profile": profile, "lang": turn.state.lang}, self.config)
                rec.result = f"{len(recs)} products"
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({short(exc)}); products in search order")
            return [ProductCard.of(h.product, score=h.score) for h in hits[: self.k]]
        return [ProductCard.of(r.product, reason=reason_text(r.reasons, turn.state.lang), score=r.score)
                for r in recs]

    def record_search(self, turn: Turn, text: str) -> None:
        """Remember the search in the shopper's history (a history that fails costs the turn nothing)."""
        if not turn.state.user_id:
            return
        try:
            self.assistant.history.record({"user_id": turn.state.user_id, "type": "search", "query": text[:500]})
        except ShopqueryError as exc:
            turn.notes.append(f"could not record the search ({short(exc)})")

    def recent_items(self, turn: Turn) -> list[str]:
        """Titles of the shopper's last bought or viewed products (none without a user or a history)."""
        user_id = turn.state.user_id
        if not user_id:
            return []
        try:
            profile = self.profile(turn)
        except ShopqueryError as exc:
            turn.notes.append(f"history unavailable ({short(exc)})")
            return []
        ids = [*profile.recently_purchased, *profile.recently_viewed][:3]
        return [p.title[:40] for p in self.assistant.store.products_by_id(ids)]

    def profile(self, turn: Turn) -> Any:
        """The shopper's history profile, read once per turn (traced as lookup_user_history); a history that
        failed raises the same error again to every later use in the turn."""
        if "profile" not in turn.lookups:
            try:
                turn.lookups["profile"] = self.run(turn, "lookup_user_history", {"user_id": turn.state.user_id})
            except ShopqueryError as exc:
                turn.lookups["profile"] = exc
        found = turn.lookups["profile"]
        if isinstance(found, ShopqueryError):
            raise found
        return found

    def preferences(self, turn: Turn) -> dict[str, list[str]] | None:
        """The shopper's preferred brands and categories, to bias the expansion (the same profile the re-ranking
        uses); None without a user, with an empty history or a history that fails."""
        if not turn.state.user_id:
            return None
        try:
            profile = self.profile(turn)
        except ShopqueryError:
            return None
        preferences = preferences_of(profile)
        return preferences.model_dump() if preferences is not None else None


class TracedParts:
    """The parts that understand a turn's message, each a traced run of its registry tool (so the trace and the
    callbacks see them as tool calls)."""

    def __init__(self, tools: TurnTools, turn: Turn):
        self.tools, self.turn = tools, turn

    def predict(self, text: str) -> IntentPrediction:
        """The intent, by the classify_intent tool."""
        return self.tools.run(self.turn, "classify_intent", {"query": text})

    def correct(self, query: str) -> CorrectedQuery:
        """The spelling fixed, by the correct_spelling tool."""
        return self.tools.run(self.turn, "correct_spelling", {"query": query})

    def parse(self, query: str) -> ParsedAttributes:
        """The attributes, by the parse_attributes tool."""
        return self.tools.run(self.turn, "parse_attributes", {"query": query})
