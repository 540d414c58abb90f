"""Running an eval suite over a dataset, optionally against a catalog ingested into a store of its own."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from assistant.app import Assistant
from assistant.settings import Settings
from eval.datasets import Dataset, load_jsonl
from eval.suites import SUITES, get_suite
from tools.core.errors import InputError


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (first 16 hex digits)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def catalog_settings(settings: Settings, catalog: Path) -> Settings:
    """Settings whose store holds exactly this catalog file (one store per file content, so re-runs are cheap)."""
    catalog = Path(catalog)
    if not catalog.is_file():
        raise InputError(f"catalog not found: {catalog}")
    store_dir = settings.data_dir / "eval-stores" / file_digest(catalog)
    return settings.model_copy(update={"chroma_path": store_dir, "chroma_url": None})


INGESTED = "ingested.json"  # written in a catalog-scoped store once its catalog is wholly ingested


def fill_store(assistant: Assistant, catalog: Path, progress: bool = True) -> dict[str, Any]:
    """Ingest the catalog into the assistant's (catalog-scoped) store unless a finished ingest of it is recorded
    there (an ingest that was interrupted is resumed: unchanged products are not embedded again); what was done."""
    info: dict[str, Any] = {"catalog": str(catalog)}
    marker = assistant.settings.catalog_dir / INGESTED
    if assistant.store.count() == 0 or not marker.is_file():
        result = assistant.ingest(catalog, progress=progress)
        info.update(ingest_s=round(result.seconds, 1), ingest_skipped=result.skipped)
        for err in result.errors[:20]:
            print(f"{catalog}:{err.line}: skipped: {err.reason}", file=sys.stderr)
        marker.write_text(json.dumps({"catalog": str(catalog), "sha256": file_digest(catalog),
                                      "products": assistant.store.count()}), encoding="utf-8")
    info["catalog_products"] = assistant.store.count()
    return info


def assistant_for_catalog(settings: Settings, catalog: Path, progress: bool = True) -> tuple[Assistant, dict]:
    """An Assistant over a store holding exactly this catalog file (kept per file content, so re-runs are cheap)."""
    assistant = Assistant(catalog_settings(settings, catalog))
    return assistant, fill_store(assistant, Path(catalog), progress)


def load_dataset(module: Any, data: Path, limit: int | None = None) -> Dataset:
    """The suite's dataset (rejected lines reported on stderr), cut to the first `limit` cases if given."""
    dataset = load_jsonl(data, module.Case)
    for line, reason in dataset.rejected[:20]:
        print(f"{data}:{line}: skipped: {reason}", file=sys.stderr)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be at least 1, not {limit}")
        dataset.cases = dataset.cases[:limit]
    return dataset


def run_suite(settings: Settings, suite: str, data: Path, catalog: Path | None = None,
              progress: bool = True, **options: Any) -> dict[str, Any]:
    """Run one suite and return its metrics as one flat dict."""
    if suite not in SUITES:
        raise InputError(f"unknown suite '{suite}'; available: {', '.join(SUITES)}")
    module = get_suite(suite)
    dataset = load_dataset(module, data)
    if catalog is not None:
        assistant, info = assistant_for_catalog(settings, catalog, progress)
    else:
        assistant, info = Assistant(settings), {}
        if getattr(module, "NEEDS_CATALOG", True):
            assistant.ensure_catalog(progress=progress)
    metrics = module.run(assistant, dataset, **options)
    return {"suite": suite, "data": str(data), "rejected_lines": len(dataset.rejected), **info, **metrics}
