"""Relevance runs on judged queries: one assistant per catalog whose stage settings change from row to row,
ranking features collected for fitting, models fitted on the other folds for each held-out query, and per-query
nDCG@10, recall@100, MRR@10 and latency."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eval.metrics import mean, mrr_at, ndcg_at, percentile, recall_at
from eval.ranker_fit import QueryFeatures, fit_language, fold_of
from tools.ranking import LanguageModel, RankingModel, RankingOptions, language_of
from tools.ranking_features import FEATURES
from tools.spelling import SpellCorrector

COLLECT_DEPTH = 400
BOOTSTRAP = 1000


@dataclass
class Row:
    """One configuration of the benchmark: search mode, settings and what is fitted ("", "fusion", "ranker").
    A `switch` row turns a stage off at run time the way a deployment would: it keeps the models fitted with every
    default on (the shipped model is fitted once), so only the queries the stage touches can score differently."""

    name: str
    mode: str
    settings: dict[str, Any]
    fit: str = ""
    switch: bool = False
    per_query: list[dict[str, float]] = field(default_factory=list)


def language_settings(settings: Any, lang: str) -> Any:
    """Settings whose derived caches (spelling, expansion) are kept per language: the two judged catalogs would
    otherwise replace each other's cached corrector on every switch."""
    directory = settings.data_dir / "relevance" / lang
    directory.mkdir(parents=True, exist_ok=True)
    return settings.model_copy(update={"data_dir": directory})


def configure(assistant: Any, base: Any, overrides: dict[str, Any], model: RankingModel | None = None) -> None:
    """Point the assistant at other stage settings (and a ranking model) without reloading its store."""
    assistant.settings = base.model_copy(update=overrides)
    assistant.store.int8_queries = assistant.settings.int8_query_vectors
    learned = assistant.settings.rerank
    weighted = assistant.settings.fusion == "weighted"
    assistant.ranking = RankingOptions(model or RankingModel.load(assistant.settings.ranking_model), learned) \
        if weighted else None


def collect(assistant: Any, cases: list[Any]) -> list[QueryFeatures]:
    """Every candidate's ranking features for each judged query (the assistant ranks with features on)."""
    out = []
    for case in cases:
        hits = [h for h in assistant.analyze(case.query, k=COLLECT_DEPTH).products if h.features is not None]
        x = np.array([[h.features[f] for f in FEATURES] for h in hits]).reshape(len(hits), len(FEATURES))
        out.append(QueryFeatures(case.query, [h.product.id for h in hits], x, case.relevant))
    return out


def fold_models(features: list[QueryFeatures], folds: int, learned: bool, kinds: bool,
                attributes: bool) -> list[RankingModel]:
    """For each fold, a model fitted on the other folds' queries (for their language)."""
    models = []
    for fold in range(folds):
        train = [q for q in features if fold_of(q.query, folds) != fold]
        lang = language_of(train[0].query) if train else "en"
        fitted = fit_language(train, learned=learned, kinds=kinds, attributes=attributes)
        languages = {"en": LanguageModel(), "zh": LanguageModel(), lang: fitted}
        models.append(RankingModel(languages, {"fold": fold}))
    return models


def score_case(assistant: Any, case: Any, mode: str, cold: bool) -> dict[str, float]:
    """Search one judged query (top 100; with `cold`, its embedding is not cached) and score it."""
    if cold:
        assistant.store.clear_query_cache()
        corrector = vars(assistant).get("corrector")  # when loaded, its per-word candidates are forgotten too
        if isinstance(corrector, SpellCorrector):
            corrector.clear_cache()
    start = time.perf_counter()
    ranked = [h.product.id for h in assistant.analyze(case.query, k=100, mode=mode).products]
    ms = (time.perf_counter() - start) * 1000
    return {"ndcg@10": ndcg_at(ranked, case.relevant, 10), "recall@100": recall_at(ranked, case.relevant, 100),
            "mrr@10": mrr_at(ranked, case.relevant, 10), "ms": ms}


def collect_for(assistant: Any, base: Any, settings: dict[str, Any], cases: list[Any],
                cache: dict[str, list[QueryFeatures]]) -> list[QueryFeatures]:
    """The features under these settings (expansion, the ranker and intent do not change them, so rows that
    differ only there share one collection pass)."""
    plain = {**settings, "rerank": False, "expand_queries": False, "classify_intent": False}
    key = repr(sorted(plain.items()))
    if key not in cache:
        configure(assistant, base, plain)
        cache[key] = collect(assistant, cases)
    return cache[key]


def run_row(assistant: Any, base: Any, row: Row, cases: list[Any], folds: int,
            cache: dict[str, list[QueryFeatures]] | None = None, cold: bool = False) -> Row:
    """Score every query under the row's settings; fitted rows use, for each query, the model of its fold."""
    settings = dict(row.settings)
    models: list[RankingModel] = []
    if row.fit:
        fitted_on = {} if row.switch else settings
        features = collect_for(assistant, base, fitted_on, cases, {} if cache is None else cache)
        models = fold_models(features, folds, row.fit == "ranker", fitted_on.get("product_kinds", True),
                             fitted_on.get("parse_attributes", True))
    configure(assistant, base, settings)
    assistant.analyze("warm up", k=10, mode=row.mode)
    row.per_query = []
    for case in cases:
        fold = fold_of(case.query, folds)
        if models:
            configure(assistant, base, settings, models[fold])
        row.per_query.append({**score_case(assistant, case, row.mode, cold), "fold": fold})
    return row


def summary(row: Row, folds: int, seed: int = 0) -> dict[str, Any]:
    """Means, latency percentiles, per-fold nDCG@10 range and a bootstrap 95% interval of nDCG@10."""
    per = row.per_query
    ndcg = np.array([p["ndcg@10"] for p in per])
    rng = np.random.default_rng(seed)
    boot = ndcg[rng.integers(0, len(ndcg), (BOOTSTRAP, len(ndcg)))].mean(axis=1) if len(ndcg) else np.zeros(1)
    by_fold = [mean([p["ndcg@10"] for p in per if p["fold"] == f]) for f in range(folds)]
    ms = [p["ms"] for p in per]
    return {
        "row": row.name, "ndcg@10": round(float(ndcg.mean()), 4),
        "recall@100": round(mean([p["recall@100"] for p in per]), 4),
        "mrr@10": round(mean([p["mrr@10"] for p in per]), 4),
        "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
        "fold_min": round(min(by_fold), 4), "fold_max": round(max(by_fold), 4),
        "ci_low": round(float(np.percentile(boot, 2.5)), 4), "ci_high": round(float(np.percentile(boot, 97.5)), 4),
        "folds": [round(v, 4) for v in by_fold],
    }
