"""Ranking a query's candidates: lexical and vector scores fused with a lexical weight per language, product-kind
and attribute agreement as evidence, and optionally a learned linear ranker over all the features. The weights
live in a small JSON file fitted on judged queries by scripts/train_ranker.py."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.package_files import package_path
from tools.ranking_features import FEATURES, Evidence, feature_matrix, gather
from tools.text import has_cjk, index_tokens

DEFAULT_MODEL = package_path("tools", "resources", "ranking_model.json")
CANDIDATE_DEPTH = 100


@dataclass
class LanguageModel:
    """Ranking weights for one language (fitted on judged queries)."""

    lexical_weight: float = 0.5
    kind_bonus: float = 0.0
    attribute_bonus: float = 0.0
    weights: list[float] | None = None
    kind_penalty: float = 0.0

    def fused(self, x: np.ndarray) -> np.ndarray:
        """Score fusion of normalised BM25 and cosine plus the kind and attribute evidence: the query's kind
        raises its products and lowers accessories of it (kind bonus), and lowers products known to be of
        another kind (kind penalty)."""
        lw = self.lexical_weight
        return (lw * x[:, 0] + (1.0 - lw) * x[:, 1] + self.kind_bonus * (x[:, 6] - x[:, 8])
                - self.kind_penalty * x[:, 7] + self.attribute_bonus * (x[:, 9] + x[:, 11]))

    def score(self, x: np.ndarray, learned: bool) -> np.ndarray:
        """The learned ranker's scores when asked for and fitted, else the fusion's."""
        if learned and self.weights is not None:
            return x @ np.asarray(self.weights, dtype=np.float64)
        return self.fused(x)


@dataclass
class RankingModel:
    """Per-language ranking weights ("en" for queries without Chinese characters, "zh" for the rest)."""

    languages: dict[str, LanguageModel] = field(default_factory=lambda: {"en": LanguageModel(),
                                                                         "zh": LanguageModel()})
    about: dict[str, Any] = field(default_factory=dict)

    def for_query(self, text: str) -> LanguageModel:
        """The weights for a query's language."""
        return self.for_language(language_of(text))

    def for_language(self, lang: str) -> LanguageModel:
        """The weights for a language ("en" or "zh"; defaults when not fitted)."""
        return self.languages.get(lang) or LanguageModel()

    @classmethod
    def load(cls, path: Path | None = None) -> RankingModel:
        """Read a model written by `dumps` (the shipped one by default)."""
        data = json.loads(Path(path or DEFAULT_MODEL).read_text(encoding="utf-8"))
        if data.get("features") not in (None, list(FEATURES)):
            raise ValueError(f"{path}: ranking model was fitted on other features; rebuild it")
        return cls({k: LanguageModel(**v) for k, v in data["languages"].items()}, data.get("about", {}))

    def dumps(self) -> str:
        """The model as stable, readable JSON."""
        data = {"features": list(FEATURES), "about": self.about,
                "languages": {k: asdict(v) for k, v in sorted(self.languages.items())}}
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


@dataclass
class RankingOptions:
    """How hybrid search orders candidates: the model's weights, whether its learned ranker is used, and whether
    the query's kind of product is evidence."""

    model: RankingModel = field(default_factory=RankingModel)
    learned: bool = True
    kinds: bool = True


@dataclass
class Ranked:
    """One ranked candidate: its row, score, ranks on each side and features."""

    row: int
    score: float
    bm25_rank: int | None
    dense_rank: int | None
    features: dict[str, float]


def language_of(text: str) -> str:
    """"zh" when the text holds Chinese characters, else "en"."""
    return "zh" if has_cjk(text) else "en"


def bm25_scores(index: Any, text: str) -> np.ndarray:
    """BM25 score of every row for the text (zeros when no token is known)."""
    n = len(index.products)
    if index.retriever is None:
        return np.zeros(n)
    ids = index.retriever.get_tokens_ids(index_tokens(text))
    return np.asarray(index.retriever.get_scores(ids), dtype=np.float64) if ids else np.zeros(n)


def rank_candidates(store: Any, text: str, mask: np.ndarray | None, evidence: Evidence, model: RankingModel,
                    learned: bool, k: int, depth: int = CANDIDATE_DEPTH) -> list[Ranked]:
    """The best `k` candidates (from the best `depth` by BM25 and by cosine, inside the mask), best first."""
    index = store.index
    if not index.products:
        return []
    bm25 = bm25_scores(index, text)
    cosine = (index.vectors @ store.query_vector(text)).astype(np.float64)
    if mask is not None:
        bm25, cosine = np.where(mask, bm25, 0.0), np.where(mask, cosine, -np.inf)
    cands = gather(bm25, cosine, depth)
    x = feature_matrix(cands, text, evidence, index.title_tokens, index.kind, index.brand, index.color,
                       index.title)
    scores = model.for_query(text).score(x, learned)
    order = np.argsort(-scores, kind="stable")[:k]
    return [Ranked(int(cands.rows[j]), float(scores[j]), int(cands.bm25_rank[j]) or None,
                   int(cands.dense_rank[j]) or None, dict(zip(FEATURES, x[j].round(4).tolist(), strict=True)))
            for j in order]
