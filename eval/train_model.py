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
    model.languages[lang] = fit_language(features)
    model.about[lang] = {"data": data.name, "data_sha256": file_digest(data), "catalog": catalog,
                         "queries": len(features), "cv": cross_validate(features, FOLDS)}
    Path(path).write_text(model.dumps(), encoding="utf-8")
    return model
