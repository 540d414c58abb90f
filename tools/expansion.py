"""Query expansion: rewrites of a shopper's query from the lexicon, the query log (nearest past queries by
embedding) and, optionally, the LLM; every rewrite verified by retrieval (tools/expansion_verify.py) and the verified
ones cached per query and catalog, so the fast path uses them without the LLM. Exposed as a class, a factory, a
fusion helper for the fast path and a LangChain tool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.catalog_store import CatalogStore
from tools.core.models import JsonModel
from tools.core.types import QueryAnalysis, Rewrite, SearchFilters, SearchHit, StageTiming
from tools.expansion_cache import ExpansionCache
from tools.expansion_lexicon import ExpansionLexicon, load_lexicon
from tools.expansion_select import (
    PROTECT_TOP,
    Preferences,
    as_preferences,
    base_score,
    fuse_hits,
    select,
    verdict_reason,
)
from tools.expansion_verify import INCREMENT_BASE, Intent, Ranked, intent_of, judge, search_many
from tools.querylog import DEFAULT_LOGS, QueryLog
from tools.text import has_cjk, normalize

LOG_NEIGHBOURS = 3
LOG_MIN_SIMILARITY = 0.0  # cosine between the query and a past query (the embedder's scale)
LLM_REWRITES = 4
VECTOR_CACHE = 2048
VERIFY_VERSION = 1
_ANGLES = str.maketrans({"<": "＜", ">": "＞"})

Source = Literal["lexicon", "querylog", "llm"]  # where a rewrite comes from (Rewrite.source)
Candidate = tuple[str, Source]  # a rewrite not yet verified, and its source


class ExpansionResult(BaseModel):
    """Every candidate rewrite with its verdict (accepted ones first, best first), and where the time went."""

    query: str
    rewrites: list[Rewrite] = Field(default_factory=list)
    from_cache: bool = False
    notes: list[str] = Field(default_factory=list)
    timings: list[StageTiming] = Field(default_factory=list)
    rankings: dict[str, list[int]] = Field(default_factory=dict, exclude=True, description="rows per rewrite")

    @property
    def accepted(self) -> list[Rewrite]:
        """The rewrites to search with the query."""
        return [r for r in self.rewrites if r.accepted]


class LlmExpansions(BaseModel):
    """What the LLM must answer."""

    expansions: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(max_length=6)


class _Clock:
    def __init__(self) -> None:
        self.timings: list[StageTiming] = []
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings.append(StageTiming(stage=stage, ms=round((now - self._last) * 1000, 3)))
        self._last = now


def _squash(text: str) -> str:
    return "".join(normalize(text).split())


class QueryExpander:
    """Candidates from the lexicon, the query log and the LLM; verified by retrieval; cached per query."""

    def __init__(self, store: CatalogStore, embedder: Any, lexicon: ExpansionLexicon, query_log: QueryLog | None,
                 cache: ExpansionCache | None, chat_model: Any = None, prompts: Any = None,
                 max_rewrites: int = 3, increment_base: int = INCREMENT_BASE):
        self.store = store
        self.increment_base = increment_base
        self.embedder = embedder
        self.lexicon = lexicon
        self.query_log = query_log
        self.cache = cache
        self.chat_model = chat_model
        self.prompts = prompts
        self.max_rewrites = max_rewrites
        self._vectors: dict[str, np.ndarray] = {}

    # -- public API -------------------------------------------------------------------------------------------------
    def expand(self, query: str, analysis_or_filters: QueryAnalysis | SearchFilters | None = None,
               preferences: Preferences | dict | None = None, use_llm: bool = False,
               k: int | None = None) -> ExpansionResult:
        """Verified rewrites of `query` (the LLM is asked only with use_llm and a chat model, and never when the
        cache already holds its rewrites for this query and catalog)."""
        filters, boost = _filters_of(analysis_or_filters)
        return self._run(query, filters, boost, as_preferences(preferences), use_llm, k or self.max_rewrites)[0]

    def search_expanded(self, text: str, hits: list[SearchHit], filters: SearchFilters | None = None,
                        boost: list[str] | None = None, k: int = 10,
                        preferences: Preferences | dict | None = None) -> tuple[list[SearchHit], list[Rewrite]]:
        """The fast path's step: verified rewrites (cache, lexicon, query log; no LLM) searched and fused with the
        original hits by weighted reciprocal rank (the original weighs most). Returns hits and the rewrites used."""
        fuse = k > PROTECT_TOP  # a list no longer than the protected top is the original's: skip the searches
        result, rankings = self._run(text, filters or SearchFilters(), boost or [], as_preferences(preferences), False,
                                     self.max_rewrites, want_rankings=fuse)
        accepted = result.accepted
        if not accepted or not hits or not fuse:
            return hits, accepted
        deeper = rankings.get(normalize(text), [])
        fused = fuse_hits(self.store, hits, [rankings[r.text] for r in accepted], k, original_rows=deeper)
        return fused, accepted

    def with_preferences(self, preferences: Preferences | dict | None) -> _BoundExpander:
        """This expander with a shopper's preferences bound (what analyze_query accepts as `expander`)."""
        return _BoundExpander(self, as_preferences(preferences))

    def forget(self, rewrites: bool = True) -> None:
        """Drop in-process caches: rewrite vectors and (with `rewrites`) the cache's memory copies; benchmarks
        time cold calls."""
        self._vectors.clear()
        if rewrites and self.cache is not None:
            self.cache.clear_memory()

    def fingerprint(self) -> str:
        """Identifies the catalog and the verification rules a cached verdict was made under."""
        return (f"v{VERIFY_VERSION}|{self.store.collection_name}|{len(self.store.index.products)}|"
                f"{self.embedder.name}|{self.increment_base}")

    # -- the pipeline -----------------------------------------------------------------------------------------------
    def _run(self, query: str, filters: SearchFilters, boost: list[str], prefs: Preferences, use_llm: bool, k: int,
             want_rankings: bool = False) -> tuple[ExpansionResult, dict[str, list[int]]]:
        clock = _Clock()
        text = normalize(query)
        result = ExpansionResult(query=text)
        key = self.fingerprint()
        entry = self.cache.get(text, key) if self.cache is not None else None
        clock.lap("cache")
        known = {r.text: r for r in (entry.rewrites if entry else [])}
        llm_done = bool(entry and entry.llm)
        wanted = self._preference_texts(text, prefs)
        fresh = entry is None or (use_llm and not llm_done) or any(t not in known for t in wanted)
        rankings: dict[str, list[int]] = {}
        if fresh:
            candidates = [] if entry else self._cheap_candidates(text, result, clock)
            candidates += [(t, "lexicon") for t in wanted if t not in known]
            if use_llm and not llm_done:
                asked = self._llm_candidates(text, filters, boost, result)
                llm_done = asked is not None  # a failed call is tried again next time
                candidates += asked or []
                clock.lap("llm")
            verified, rankings = self._verify(text, _dedupe(text, candidates, known), filters, boost)
            known.update({r.text: r for r in verified})
            clock.lap("verify")
            if self.cache is not None:
                self.cache.put(text, key, list(known.values()), llm_done)
        result.from_cache = not fresh
        result.rewrites = select(list(known.values()), prefs, k)
        if want_rankings and result.accepted:
            missing = [t for t in [text, *(r.text for r in result.accepted)] if t not in rankings]
            rankings.update(self._search_texts(missing, filters, boost))
            clock.lap("search")
        result.rankings = {r.text: rankings[r.text] for r in result.accepted if r.text in rankings}
        result.timings = clock.timings
        return result, rankings

    def _cheap_candidates(self, text: str, result: ExpansionResult, clock: _Clock) -> list[Candidate]:
        found: list[Candidate] = [(t, "lexicon") for t in self.lexicon.rewrites(text)]
        clock.lap("lexicon")
        if self.query_log is not None and self.query_log.texts:
            vector = self.store.query_vector(text)
            found += [(t, "querylog") for t, _ in self.query_log.neighbours(text, vector, LOG_NEIGHBOURS,
                                                                              LOG_MIN_SIMILARITY)]
            clock.lap("querylog")
        if not found:
            result.notes.append("no lexicon term or past query close to this query")
        return found

    def _preference_texts(self, text: str, prefs: Preferences) -> list[str]:
        """The query with a preferred brand in front, for brands the query does not name already (two at most)."""
        if not prefs.brands or not text:
            return []
        out = [f"{normalize(b)} {text}" for b in prefs.brands if normalize(b) and normalize(b) not in text]
        return out[:2]

    # -- the LLM ------------------------------------------------------------------------------------------------
    def _llm_candidates(self, text: str, filters: SearchFilters, boost: list[str],
                        result: ExpansionResult) -> list[Candidate] | None:
        """The LLM's rewrites, or None (with a note) when it is not configured or fails."""
        if self.chat_model is None or self.prompts is None:
            result.notes.append("llm: skipped (no chat model configured)")
            return None
        try:
            model = self._chat_model()
        except Exception as exc:  # noqa: BLE001 - a model that cannot load only skips this source
            result.notes.append(f"llm: skipped ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})")
            return None
        if not isinstance(model, JsonModel):
            result.notes.append(f"llm: skipped ({type(model).__name__} cannot answer in JSON: no generate_json)")
            return None

        original = self._search_texts([text], filters, boost).get(text, [])
        categories = sorted({str(self.store.index.category[r]) for r in original[:10]} - {""})[:4]
        lang = "zh" if has_cjk(text) else "en"
        variables = {"query": text.translate(_ANGLES), "n": LLM_REWRITES,
                     "categories": [c.translate(_ANGLES) for c in categories]}
        messages = [("system", self.prompts.render("expansion", "system", lang, **variables)),
                    ("human", self.prompts.render("expansion", "user", lang, **variables))]
        try:
            answer = model.generate_json(messages, LlmExpansions, retries=1, max_tokens=160)
        except Exception as exc:  # noqa: BLE001 - any model failure only skips this source
            result.notes.append(f"llm: skipped ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})")
            return None
        texts = [normalize(t) for t in answer.get("expansions", [])]
        return [(t, "llm") for t in texts if t][:LLM_REWRITES]

    def _chat_model(self) -> Any:
        """The chat model; `chat_model` may also be a zero-argument callable that loads it on first use."""
        if callable(self.chat_model) and not hasattr(self.chat_model, "invoke"):
            self.chat_model = self.chat_model()
        return self.chat_model

    # -- retrieval ----------------------------------------------------------------------------------------------
    def _vectors_of(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, self.embedder.embed_queries(missing), strict=True):
                if len(self._vectors) >= VECTOR_CACHE:
                    self._vectors.pop(next(iter(self._vectors)))
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        dim = getattr(self.embedder, "dim", 1)
        return np.vstack([self._vectors[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)

    def _search_texts(self, texts: list[str], filters: SearchFilters, boost: list[str]) -> dict[str, list[int]]:
        if not texts:
            return {}
        ranked = search_many(self.store, texts, self._vectors_of(texts), filters, boost)
        return {t: r.rows for t, r in zip(texts, ranked, strict=True)}

    def _verify(self, text: str, candidates: list[Candidate], filters: SearchFilters,
                boost: list[str]) -> tuple[list[Rewrite], dict[str, list[int]]]:
        if not candidates:
            return [], {}
        texts = [t for t, _ in candidates]
        vectors = np.vstack([self.store.query_vector(text)[None, :], self._vectors_of(texts)])
        ranked = search_many(self.store, [text, *texts], vectors, filters, boost)
        intent = intent_of(self.store.index, vectors[0], ranked[0].rows, self.increment_base)
        out = [self._rewrite(t, source, intent, r) for (t, source), r in zip(candidates, ranked[1:], strict=True)]
        return out, {t: r.rows for t, r in zip([text, *texts], ranked, strict=True)}

    def _rewrite(self, text: str, source: Source, intent: Intent, ranked: Ranked) -> Rewrite:
        verdict = judge(self.store.index, intent, ranked)
        rewrite = Rewrite(text=text, source=source, relevance=verdict.relevance, increment=verdict.increment,
                          hits=verdict.hits)
        rewrite.score = base_score(rewrite)
        rewrite.reason = verdict_reason(rewrite)
        return rewrite


class _BoundExpander:
    """An expander with a shopper's preferences bound; has the fast path's `search_expanded`."""

    def __init__(self, expander: QueryExpander, preferences: Preferences):
        self.expander = expander
        self.preferences = preferences

    def search_expanded(self, text: str, hits: list[SearchHit], filters: SearchFilters | None = None,
                        boost: list[str] | None = None, k: int = 10,
                        preferences: Preferences | dict | None = None) -> tuple[list[SearchHit], list[Rewrite]]:
        """As QueryExpander.search_expanded, with the bound preferences."""
        return self.expander.search_expanded(text, hits, filters, boost, k, preferences or self.preferences)


def _dedupe(text: str, candidates: list[Candidate], known: dict[str, Rewrite]) -> list[Candidate]:
    seen = {_squash(text), *(_squash(t) for t in known)}
    out: list[Candidate] = []
    for candidate, source in candidates:
        squashed = _squash(candidate)
        if candidate and squashed not in seen:
            seen.add(squashed)
            out.append((normalize(candidate), source))
    return out


def _filters_of(value: QueryAnalysis | SearchFilters | None) -> tuple[SearchFilters, list[str]]:
    if isinstance(value, QueryAnalysis):
        category = (value.attributes or {}).get("category")
        boost = [category] if isinstance(category, str) and category else list(category or [])
        return value.filters, boost
    return value or SearchFilters(), []


def build_default_expander(store: CatalogStore, data_dir: Path, embedder: Any = None, chat_model: Any = None,
                           prompts: Any = None, log_paths: list[Path] | None = None,
                           log_size: int | None = 20_000, max_rewrites: int = 3) -> QueryExpander:
    """An expander over a store: the shipped lexicon plus the catalog's brands and categories, the query logs
    (`log_paths`, default the shipped zh and en logs, first `log_size` queries of each; embeddings cached in
    DATA_DIR/expansion) and a verified-rewrite cache in DATA_DIR/expansion/rewrites.sqlite."""
    embedder = embedder or store.embedder
    directory = Path(data_dir) / "expansion"
    lexicon = load_lexicon(products=store.index.products)
    paths = list(log_paths) if log_paths is not None else list(DEFAULT_LOGS)
    log = QueryLog.from_files(paths, embedder, directory, limit=log_size) if paths else None
    cache = ExpansionCache(directory / "rewrites.sqlite")
    return QueryExpander(store, embedder, lexicon, log, cache, chat_model=chat_model, prompts=prompts,
                         max_rewrites=max_rewrites)


class ExpandQueryInput(BaseModel):
    """Arguments of the expand_query tool."""

    query: str = Field(min_length=1, description="the shopper's search query")
    use_llm: bool = Field(default=False, description="also ask the language model for rewrites (slower)")
    k: int = Field(default=3, ge=1, le=5, description="how many verified rewrites to return")


def make_expand_tool(expander: QueryExpander):
    """The expand_query LangChain tool bound to an expander (schema derived from ExpandQueryInput); a program may
    pass a search's `hits` (with its filters, boost, depth, preferences) for the fast path's rewrites of it."""
    from tools.context_tool import ContextTool

    def run(query: str, use_llm: bool = False, k: int = 3, hits: list[SearchHit] | None = None,
            filters: SearchFilters | None = None, boost_categories: list[str] | None = None, depth: int = 10,
            preferences: dict | None = None) -> tuple[dict, list[Rewrite]]:
        if hits is not None:
            accepted = expander.search_expanded(query, hits, filters, boost_categories, depth, preferences)[1]
            return {"query": query, "expansions": [{"text": r.text, "source": r.source, "score": r.score}
                                                   for r in accepted]}, accepted
        result = expander.expand(query, use_llm=use_llm, k=k)
        return {"query": result.query, "notes": result.notes,
                "expansions": [{"text": r.text, "source": r.source, "score": r.score} for r in result.accepted],
                "rejected": [{"text": r.text, "reason": r.reason} for r in result.rewrites
                             if not r.accepted][:5]}, result.accepted

    return ContextTool.from_function(
        func=run, name="expand_query", args_schema=ExpandQueryInput, response_format="content_and_artifact",
        context_args=frozenset({"hits", "filters", "boost_categories", "depth", "preferences"}),
        description="Rewrite a search query into other queries (synonyms, Chinese/English names, past shoppers' "
                    "queries) that find more of the same products; each rewrite is checked against the catalog.",
    )
