"""The Assistant: built once from Settings, it owns the store, the embedder and the chat model (all lazy). Any
part can be supplied instead of built: `Assistant(settings, chat_model=..., store=...)`, `use(...)`, `override(...)`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

from assistant.fast_path import Expander, analyze_query
from assistant.ingest import IngestResult, ingest_file
from assistant.prompts import PromptLibrary
from assistant.settings import Settings
from tools.catalog_search import Mode
from tools.catalog_store import CatalogStore
from tools.core.types import QueryAnalysis, SearchFilters
from tools.package_files import package_path
from tools.ranking import RankingModel, RankingOptions

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from assistant.agent import Agent
    from assistant.llm_base import JsonChatModel
    from assistant.sessions import SessionStore
    from tools.attributes import AttributeParser
    from tools.core.models import Embedder
    from tools.expansion import QueryExpander
    from tools.history import HistoryStore
    from tools.intent import IntentClassifier
    from tools.recommend import ModelCache
    from tools.spelling import Corrector

DEMO_CATALOG = package_path("assistant", "data", "demo_catalog.jsonl")


def offline_environment() -> None:
    """Keep every library off the network: no model hub, no telemetry, no analytics."""
    for key, value in {
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(key, value)


class Parts(TypedDict, total=False):
    """The parts of an Assistant that can be supplied instead of built from its settings."""

    embedder: Embedder
    store: CatalogStore
    ranking: RankingOptions | None
    chat_model: JsonChatModel
    attribute_parser: AttributeParser
    corrector: Corrector
    intent_classifier: IntentClassifier
    expander: QueryExpander
    history: HistoryStore
    item_model: ModelCache
    sessions: SessionStore
    tools: dict[str, BaseTool]
    agent: Agent


PART_NAMES = tuple(Parts.__annotations__)
# the parts each part is built over: replacing one drops what the Assistant built over it (rebuilt when next used)
BUILT_FROM: dict[str, tuple[str, ...]] = {
    "store": ("embedder",),
    "attribute_parser": ("store",),
    "corrector": ("store",),
    "expander": ("store", "embedder"),
    "item_model": ("history",),
    "sessions": ("history",),
    "tools": ("corrector", "attribute_parser", "intent_classifier", "store", "history", "item_model", "expander"),
    "agent": ("chat_model",),
}


def built_over(names: Iterable[str]) -> set[str]:
    """`names` and every part built, directly or not, over one of them."""
    found = set(names)
    grown = True
    while grown:
        more = {part for part, sources in BUILT_FROM.items() if part not in found and found.intersection(sources)}
        found |= more
        grown = bool(more)
    return found


class Assistant:
    """The application object every surface (CLI, UI, API, eval) talks to. Parts not supplied are built from the
    settings when first used."""

    def __init__(self, settings: Settings, **parts: Unpack[Parts]) -> None:
        offline_environment()
        self.settings = settings
        self.prompts = PromptLibrary()
        self._supplied: set[str] = set()
        self.use(**parts)

    def use(self, **parts: Unpack[Parts]) -> None:
        """Use these parts from now on; the parts this Assistant built over the ones replaced are dropped (rebuilt
        when next used); parts that were supplied stay."""
        unknown = sorted(set(parts) - set(PART_NAMES))
        if unknown:
            raise TypeError(f"unknown Assistant part(s) {', '.join(unknown)}; the parts are {', '.join(PART_NAMES)}")
        self._drop(built_over(parts) - set(parts) - self._supplied)
        self.__dict__.update(parts)
        self._supplied |= set(parts)

    @contextmanager
    def override(self, **parts: Unpack[Parts]) -> Iterator[Assistant]:
        """Use these parts inside the block; afterwards the parts they replaced, and those built over them, are
        back as they were (built, supplied or not yet built)."""
        affected = built_over(parts)
        saved = {name: self.__dict__[name] for name in affected if name in self.__dict__}
        supplied = self._supplied & affected
        self.use(**parts)
        try:
            yield self
        finally:
            self._drop(affected)
            self.__dict__.update(saved)
            self._supplied |= supplied

    def built_parts(self) -> Parts:
        """The parts built or supplied so far (nothing is loaded)."""
        return cast(Parts, {name: self.__dict__[name] for name in PART_NAMES if name in self.__dict__})

    def _drop(self, names: Iterable[str]) -> None:
        for name in names:
            self.__dict__.pop(name, None)
            self._supplied.discard(name)

    @cached_property
    def embedder(self) -> Embedder:
        """The sentence embedder named by the settings (loaded once)."""
        from tools.embeddings import get_embedder

        return get_embedder(self.settings.embedding_backend)

    @cached_property
    def store(self) -> CatalogStore:
        """The catalog store (embedded chromadb by default, a Chroma server by URL)."""
        return CatalogStore(self.settings.catalog_dir, self.embedder, self.settings.collection,
                            self.settings.chroma_url, int8_queries=self.settings.int8_query_vectors)

    @cached_property
    def ranking(self) -> RankingOptions | None:
        """How hybrid search orders candidates (None: reciprocal rank fusion, as the settings ask)."""
        if self.settings.fusion != "weighted":
            return None
        return RankingOptions(RankingModel.load(self.settings.ranking_model), learned=self.settings.rerank,
                              kinds=self.settings.product_kinds)

    @cached_property
    def chat_model(self) -> JsonChatModel:
        """The chat model (embedded llama.cpp or an OpenAI-compatible server); raises ModelUnavailable."""
        from assistant.llm import build_chat_model

        return build_chat_model(self.settings)

    @cached_property
    def attribute_parser(self) -> AttributeParser:
        """The attribute parser, its lexicons built once from the catalog in the store."""
        from tools.attributes import AttributeParser

        return AttributeParser.from_products(self.store.index.products)

    @cached_property
    def corrector(self) -> Corrector:
        """The spell corrector for the stored catalog (cached in DATA_DIR/spelling; rebuilt when the catalog,
        remembered query logs or taught terms change)."""
        from tools.spelling import build_default_corrector

        return build_default_corrector(self.store.index.products, self.settings.data_dir)

    @cached_property
    def intent_classifier(self) -> IntentClassifier:
        """The intent classifier (set-up trains it; otherwise it is fine-tuned on first use, ~8 min, with progress)."""
        from tools.intent import default_checkpoint_dir, load_or_train

        classifier = load_or_train(default_checkpoint_dir(self.settings), progress=True)
        classifier.share_trunk(self.embedder)  # one pass through the lower layers for a query's intent and vector
        return classifier

    @cached_property
    def expander(self) -> QueryExpander:
        """Query expansion over the store: lexicon and query-log rewrites verified by retrieval (cached), the
        model only when asked for."""
        from tools.expansion import build_default_expander

        return build_default_expander(self.store, self.settings.data_dir, self.embedder,
                                      chat_model=lambda: self.chat_model, prompts=self.prompts,
                                      log_paths=self.settings.expansion_log_paths,
                                      log_size=self.settings.expansion_log_size)

    @cached_property
    def history(self) -> HistoryStore:
        """The shopper history store (SQLite in DATA_DIR by default, any SQLAlchemy URL by setting)."""
        from tools.history import HistoryStore

        return HistoryStore.from_settings(self.settings)

    @cached_property
    def item_model(self) -> ModelCache:
        """The item-to-item co-occurrence model over the history (call it for the current model)."""
        from tools.recommend import ModelCache

        return ModelCache(self.history)

    def ensure_demo_users(self) -> dict[str, int]:
        """Seed the synthetic demo shoppers' histories over the catalog (idempotent)."""
        from tools.demo_users import seed_demo_users

        return seed_demo_users(self.history, self.store.index.products)

    @cached_property
    def sessions(self) -> SessionStore:
        """Conversation state between turns: in memory by default; in the history database when
        SHOPQUERY_SESSIONS=database (shared by API replicas)."""
        from assistant.sessions import DatabaseSessions, MemorySessions

        if self.settings.sessions == "database":
            return DatabaseSessions(self.history)
        return MemorySessions()

    @cached_property
    def tools(self) -> dict[str, BaseTool]:
        """Every tool by name, bound to this assistant's resources (see tools/registry.py)."""
        from tools.registry import build_tools

        return build_tools(self)

    @cached_property
    def agent(self) -> Agent:
        """The conversational agent over this assistant."""
        from assistant.agent import Agent

        return Agent(self)

    def ingest(self, path: Path, progress: bool = True) -> IngestResult:
        """Load a catalog file into the store (lexicons built from the catalog are refreshed)."""
        result = ingest_file(self.store, Path(path), progress=progress,
                             simplify=getattr(self.settings, "catalog_to_simplified", True))
        self._drop(("attribute_parser", "corrector", "expander"))
        return result

    def ensure_catalog(self, progress: bool = True) -> IngestResult | None:
        """Load the bundled demo catalog when the store is empty; returns what was done (None if nothing)."""
        if self.store.count() > 0:
            return None
        return self.ingest(DEMO_CATALOG, progress=progress)

    def warm_up(self, model: bool = False) -> float:
        """Load the store, its index, the embedder, the parser (and with `model`, the chat model, running one
        short generation so its weights are paged in) now rather than on the first query; seconds."""
        start = time.perf_counter()
        if model:
            self._warm_model()
        _ = self.store.index
        self.embedder.embed_queries(["warm up"], int8=self.settings.int8_query_vectors != "off")
        if self.settings.parse_attributes:
            _ = self.attribute_parser
        if self.settings.correct_spelling:
            _ = self.corrector
        if self.settings.classify_intent:
            _ = self.intent_classifier
        if self.settings.uses_expander and self.expander.query_log is not None:
            _ = self.expander.query_log.vectors
        from tools.free_memory import release_free_memory

        release_free_memory()
        return time.perf_counter() - start

    def _warm_model(self) -> None:
        import contextlib

        from tools.core.errors import ShopqueryError

        # an unavailable model is reported by the turn that needs it (and the fast path answers)
        with contextlib.suppress(ShopqueryError):
            self.chat_model.invoke([("user", "hi")], max_tokens=1)
            self.agent.prime_model()  # the reply prompt's fixed head, evaluated once and kept

    def analyze(self, query: str | bytes, user_id: str | None = None, k: int = 10,
                filters: SearchFilters | None = None, mode: Mode = "hybrid") -> QueryAnalysis:
        """The fast path: understand and search one query without the LLM."""
        parser = self.attribute_parser if self.settings.parse_attributes else None
        corrector = self.corrector if self.settings.correct_spelling else None
        intent = self.intent_classifier if self.settings.classify_intent else None
        expander = self.expander_for(user_id) if self.settings.expand_queries else None
        analysis = analyze_query(self.store, query, max_chars=self.settings.max_query_chars, k=k, filters=filters,
                                 mode=mode, parser=parser, corrector=corrector, intent=intent, expander=expander,
                                 ranking=self.ranking, evidence=self.settings.attribute_evidence,
                                 kinds=self.settings.product_kinds)
        analysis.notes.extend(self.degraded_notes())
        return analysis

    def degraded_notes(self) -> list[str]:
        """What is degraded right now that changes answers (the catalog served without its vector store)."""
        error = getattr(self.built_parts().get("store"), "vector_error", None)
        if error is None:
            return []
        return [f"catalog degraded (vector store unavailable: {error}); results come from the on-disk index"]

    def expander_for(self, user_id: str | None) -> Expander:
        """The expander, biased to a shopper's preferred brands and categories when their history has any."""
        if not user_id:
            return self.expander
        from tools.core.errors import ShopqueryError
        from tools.expansion_select import preferences_of

        try:
            profile = self.history.profile(user_id, self.store.products_by_id)
        except ShopqueryError:
            return self.expander
        preferences = preferences_of(profile)
        return self.expander.with_preferences(preferences) if preferences is not None else self.expander
