"""Writing one language's fitted ranking weights into the model file (the other language is kept)."""

from __future__ import annotations

from pathlib import Path

from eval.harness import file_digest
from eval.ranker_fit import QueryFeatures, cross_validate, fit_language
from tools.ranking import RankingModel

FOLDS = 5


def write_language_model(path: Path, lang: str, features: list[QueryFeatures], data: Path,
                         catalog: str) -> RankingModel:
    """Fit `lang` on every judged query's features, record each fold's held-out nDCG@10, and save."""
    model = RankingModel.load(path) if Path(path).is_file() else RankingModel(languages={})
    model.about.update({"built_by": "scripts/train_ranker.py", "folds": FOLDS})
    folds = cross_validate(features, FOLDS)
    fitted = fit_language(features)
    if _mean(folds, "learned") <= _mean(folds, "fused"):
        fitted.weights = None  # the learned ranker did not beat the fusion on held-out folds: not used
    model.languages[lang] = fitted
    model.about[lang] = {"data": data.name, "data_sha256": file_digest(data), "catalog": catalog,
                         "queries": len(features), "cv": folds}
    Path(path).write_text(model.dumps(), encoding="utf-8")
    return model


def _mean(folds: list[dict], key: str) -> float:
    """Held-out nDCG@10 over all queries (folds weighted by their size)."""
    total = sum(f["queries"] for f in folds)
    return sum(f[key] * f["queries"] for f in folds) / total if total else 0.0
