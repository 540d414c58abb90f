"""Reading eval datasets (JSONL): each line validated by the suite's pydantic model; bad lines reported, kept out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tools.core.errors import InputError

Case = TypeVar("Case", bound=BaseModel)


@dataclass
class Dataset(Generic[Case]):
    """The valid cases of a dataset file and the lines that were rejected."""

    path: Path
    cases: list[Case]
    rejected: list[tuple[int, str]] = field(default_factory=list)


def load_jsonl(path: Path, model: type[Case]) -> Dataset[Case]:
    """Parse a JSONL file into cases of `model`; raises InputError if the file is missing or has no valid case."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset not found: {path}")
    cases: list[Case] = []
    rejected: list[tuple[int, str]] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                cases.append(model.model_validate(json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                rejected.append((number, f"not a JSON line: {exc}"))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "line"
                rejected.append((number, f"{where}: {first['msg']}"))
    if not cases:
        raise InputError(f"{path}: no valid cases ({len(rejected)} lines rejected)")
    return Dataset(path=path, cases=cases, rejected=rejected)
