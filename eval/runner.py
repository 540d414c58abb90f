"""The eval matrix runner: suite x prompt variant x model backend. Each cell runs the suite on a fresh Assistant
whose prompts carry the variant's overrides and whose chat model is the cell's model behind the model-call cache;
the run is written as RUN_DIR/result.json (schema "shopquery.eval.run/1", see docs in eval/data/README.md).

Suites whose outputs do not depend on the prompts or the chat model (retrieval, attributes, spelling, intent,
expansion without llm_sample) run as a single cell: variant "default", model "none"."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.app import Assistant
from assistant.settings import Settings
from eval.backends import ModelChoice, ModelInfo, model_info, parse_model_list
from eval.cache import CachedChatModel, ModelCallCache
from eval.harness import catalog_settings, file_digest, fill_store, load_dataset
from eval.records import SuiteResult
from eval.run_output import CellProgress, split_metrics
from eval.specs import Row, SuiteSpec, display_path
from eval.suites import get_suite
from eval.variants import Variant, default_variant, resolve_variants
from tools.core.errors import ShopqueryError

SCHEMA = "shopquery.eval.run/1"
CHECKPOINT_S = 20.0  # while a cell runs, result.json is rewritten with its cases at most this often
# resources that do not depend on the prompts or the chat model: loaded once, shared by every cell of a run
SHARED = ("embedder", "store", "attribute_parser", "corrector", "intent_classifier", "history", "item_model")


class RunOptions(BaseModel):
    """What `shopquery eval run` was asked for."""

    variants: list[Path] = Field(default_factory=list)
    include_default: bool = True
    models: str | None = None
    out: Path | None = None
    limit: int | None = None
    cache: bool = True
    judge: str | None = None
    progress: bool = True


ModelFactory = Callable[[Settings], tuple[Any, ModelInfo]]


def build_model(settings: Settings) -> tuple[Any, ModelInfo]:
    """The chat model the settings select (loaded lazily) and its identity."""
    from assistant.llm import build_chat_model

    inner = build_chat_model(settings)
    return inner, model_info(settings, inner)


class _Context:
    """State shared by the cells of one suite run."""

    def __init__(self, settings: Settings, spec: SuiteSpec, options: RunOptions, cache: ModelCallCache,
                 resources: dict[str, Any] | None, model_factory: ModelFactory):
        self.settings = catalog_settings(settings, spec.catalog) if spec.catalog else settings
        self.spec = spec
        self.options = options
        self.cache = cache
        self.module = get_suite(spec.kind)
        self.dataset = load_dataset(self.module, spec.data, options.limit)
        self.shared: dict[str, Any] = dict(resources or {})
        self.model_factory = model_factory
        self.catalog_info: dict[str, Any] = {}
        self.judge: Any = None
        self.cells: list[dict[str, Any]] = []
        self.run_dir, self.run_id, self.now = Path("."), "", datetime.now(UTC)
        self.saved_at = time.monotonic()
        self.running: tuple[dict[str, Any], list[Any]] | None = None


def run_dir_for(settings: Settings, spec: SuiteSpec, out: Path | None, now: datetime) -> tuple[Path, str]:
    """(the run directory, the run id): `--out` or `<data_dir>/eval-runs/<YYYYmmdd-HHMMSS>-<suite>`."""
    run_id = f"{now:%Y%m%d-%H%M%S}-{spec.name}"
    return (Path(out) if out else settings.data_dir / "eval-runs" / run_id), run_id


def plan(settings: Settings, spec: SuiteSpec, options: RunOptions) -> tuple[list[Variant], list[ModelChoice | None]]:
    """The variants and models of the matrix, checked before anything runs (bad files fail here)."""
    variants = resolve_variants(options.variants, options.include_default)
    if not spec.model_matrix:
        if options.variants or options.models:
            print(f"({spec.name}: a {spec.kind} suite does not use the prompts or the chat model; "
                  "running one cell)", file=sys.stderr)
        return [default_variant()], [None]
    return variants, list(parse_model_list(options.models, settings))


def run_matrix(settings: Settings, spec: SuiteSpec, options: RunOptions, *, resources: dict[str, Any] | None = None,
               model_factory: ModelFactory = build_model) -> tuple[Path, dict[str, Any]]:
    """Run every cell of one suite, write RUN_DIR/result.json and return (RUN_DIR, the record). `resources`
    pre-loads Assistant properties shared by every cell (e.g. {"store": ..., "embedder": ...}); `model_factory`
    turns a cell's settings into (chat model, ModelInfo)."""
    now = datetime.now(UTC)
    variants, models = plan(settings, spec, options)
    run_dir, run_id = run_dir_for(settings, spec, options.out, now)
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = ModelCallCache.in_data_dir(settings.data_dir)
    ctx = _Context(settings, spec, options, cache, resources, model_factory)
    ctx.run_dir, ctx.run_id, ctx.now = run_dir, run_id, now
    try:
        if options.judge:
            ctx.judge = _judge_model(ctx, options.judge)
        for choice in models:
            _model_cells(ctx, choice, variants)
    except KeyboardInterrupt:
        save(ctx, "interrupted")
        raise
    finally:
        cache.close()
    return run_dir, save(ctx, "complete")


def save(ctx: _Context, status: str) -> dict[str, Any]:
    """Write result.json (atomically) with the finished cells and, while a cell runs or after an interruption,
    that cell's cases so far (marked "partial"), so a stopped run loses nothing that was measured."""
    cells = list(ctx.cells)
    if ctx.running is not None:
        head, records = ctx.running
        cells.append({**head, "partial": True, "metrics": {}, "threshold_failures": [], "error": None,
                      "cases": [r.model_dump(mode="json") for r in records]})
    result = {**_record(ctx, ctx.run_id, ctx.now, cells), "status": status}
    path = ctx.run_dir / "result.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    ctx.saved_at = time.monotonic()
    return result


def cell_name(spec: SuiteSpec, row: Row, variant: Variant) -> str:
    """A cell's variant name: the prompt variant, the row when the suite declares rows, or `row+variant`."""
    if not spec.rows:
        return variant.name
    return row.name if variant.name == "default" else f"{row.name}+{variant.name}"


def row_settings(settings: Settings, row: Row) -> Settings:
    """The settings with a row's switches applied."""
    return settings.model_copy(update=row.settings) if row.settings else settings


def _model_cells(ctx: _Context, choice: ModelChoice | None, variants: list[Variant]) -> None:
    """Every row x variant cell for one model (the model is loaded once and dropped afterwards)."""
    pairs = [(row, v) for row in ctx.spec.run_rows for v in variants]
    if choice is None:
        info = ModelInfo(backend="none", name="none")
        ctx.cells.extend(_run_cell(ctx, row, v, row_settings(ctx.settings, row), None, info) for row, v in pairs)
        return
    cell_settings = choice.settings(ctx.settings)
    try:
        inner, info = ctx.model_factory(cell_settings)
    except ShopqueryError as exc:  # this model cannot be used: its cells are recorded as failed, others run
        print(f"({ctx.spec.name}: model {choice.spec} unavailable: {exc})", file=sys.stderr)
        ctx.cells.extend(_failed_cell(v, choice.spec, exc, cell_name(ctx.spec, row, v)) for row, v in pairs)
        return
    for row, variant in pairs:
        ctx.cells.append(_run_cell(ctx, row, variant, row_settings(cell_settings, row), inner, info))
        save(ctx, "running")
    del inner


def _fresh_assistant(ctx: _Context, settings: Settings, variant: Variant) -> Assistant:
    assistant = Assistant(settings, **ctx.shared)
    assistant.prompts = variant.library()
    if not ctx.shared:
        if ctx.spec.catalog is not None:
            ctx.catalog_info = fill_store(assistant, ctx.spec.catalog, ctx.options.progress)
        elif getattr(ctx.module, "NEEDS_CATALOG", True):
            assistant.ensure_catalog(progress=ctx.options.progress)
    return assistant


def _run_cell(ctx: _Context, row: Row, variant: Variant, settings: Settings, inner: Any,
              info: ModelInfo) -> dict[str, Any]:
    """One cell: a fresh Assistant with the row's settings, the variant's prompts and the cached model; never
    raises for a case."""
    assistant = _fresh_assistant(ctx, settings, variant)
    wrapper = None
    if inner is not None:
        wrapper = CachedChatModel(inner=inner, call_cache=ctx.cache, identity=info.identity,
                                  enabled=ctx.options.cache)
        assistant.use(chat_model=wrapper)
    name = cell_name(ctx.spec, row, variant)
    label = f"{ctx.spec.name} | {name} | {info.identity if inner is not None else 'no model'}"
    progress = CellProgress(label, len(ctx.dataset.cases), enabled=ctx.options.progress)
    head = {**_cell_head(variant, info, assistant), "variant": name}
    if ctx.spec.rows:
        head["row"] = {"name": row.name, "description": row.description, "options": row.options,
                       "settings": {k: str(v) if isinstance(v, Path) else v for k, v in row.settings.items()}}
    if row.thresholds:
        head["thresholds"] = {k: v.model_dump(exclude_none=True)
                              for k, v in {**ctx.spec.thresholds, **row.thresholds}.items()}
    options = {**ctx.spec.options, **row.options}
    finished: list[Any] = []

    def on_case(record: Any) -> None:
        progress.update(record)
        finished.append(record)
        ctx.running = ({**head, "cache": wrapper.stats() if wrapper else {"hits": 0, "misses": 0}}, finished)
        if time.monotonic() - ctx.saved_at >= CHECKPOINT_S:
            save(ctx, "running")

    start = time.perf_counter()
    error = None
    try:
        result = ctx.module.run_cases(assistant, ctx.dataset, on_case=on_case, **options)
    except Exception as exc:  # noqa: BLE001 - a suite that cannot run at all is recorded; other cells go on
        error = f"{type(exc).__name__}: {exc}"[:500]
        result = SuiteResult(metrics={}, cases=[])
    ctx.running = None
    ctx.shared.update({k: v for k, v in assistant.built_parts().items() if k in SHARED})
    if ctx.judge is not None and result.cases:
        from eval.judging import judge_cases

        result.metrics.update(judge_cases(ctx.judge, assistant.prompts, result.cases, progress=ctx.options.progress))
    duration = time.perf_counter() - start
    progress.done(duration, wrapper.stats() if wrapper else None, error)
    metrics, details = split_metrics(result.metrics)
    return {
        **head, "duration_s": round(duration, 1),
        "cache": wrapper.stats() if wrapper else {"hits": 0, "misses": 0},
        "metrics": metrics,
        "threshold_failures": _threshold_failures({**ctx.spec.thresholds, **row.thresholds}, metrics)
        if error is None else [f"cell failed: {error}"],
        "error": error,
        "details": details,
        "cases": [c.model_dump(mode="json") for c in result.cases],
    }


def _failed_cell(variant: Variant, spec: str, exc: Exception, name: str) -> dict[str, Any]:
    """A cell whose model could not be built."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    return {"variant": name, "variant_file": variant.file, "model": spec,
            "model_info": {"backend": spec.split(":", 1)[0], "name": spec.split(":", 1)[-1], "sha256": None},
            "prompt_hashes": variant.library().hashes(), "duration_s": 0.0, "cache": {"hits": 0, "misses": 0},
            "metrics": {}, "threshold_failures": [f"cell failed: {error}"], "error": error, "details": {},
            "cases": []}


def _cell_head(variant: Variant, info: ModelInfo, assistant: Assistant) -> dict[str, Any]:
    """What identifies a cell: variant, model and the hash of every prompt template."""
    return {"variant": variant.name, "variant_file": display_path(Path(variant.file)) if variant.file else None,
            "model": info.identity, "model_info": info.model_dump(), "prompt_hashes": assistant.prompts.hashes()}


def _threshold_failures(thresholds: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    problems = (rule.problem(name, metrics.get(name)) for name, rule in thresholds.items())
    return [p for p in problems if p]


def _record(ctx: _Context, run_id: str, now: datetime, cells: list[dict[str, Any]]) -> dict[str, Any]:
    spec = ctx.spec
    names = {m for c in cells for m in c["metrics"]} | set(spec.thresholds) | set(spec.metrics)
    return {
        "schema": SCHEMA, "run_id": run_id, "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "suite": {
            "name": spec.name, "kind": spec.kind, "file": display_path(spec.file), "data": display_path(spec.data),
            "data_sha256": file_digest(spec.data), "cases": len(ctx.dataset.cases),
            "rejected_lines": len(ctx.dataset.rejected), "catalog": display_path(spec.catalog),
            **({"catalog_info": ctx.catalog_info} if ctx.catalog_info else {}),
            "options": spec.options, "metrics": spec.metrics, "headline": spec.headline_metrics,
            "real_data": spec.real_data,
            "thresholds": {k: v.model_dump(exclude_none=True) for k, v in spec.thresholds.items()},
        },
        "metric_directions": {m: spec.direction(m) for m in sorted(names)},
        "cells": cells,
    }


def _judge_model(ctx: _Context, spec_text: str) -> CachedChatModel:
    """The judge's chat model (any model spec), behind the same cache."""
    from eval.backends import parse_model_spec

    inner, info = ctx.model_factory(parse_model_spec(spec_text).settings(ctx.settings))
    return CachedChatModel(inner=inner, call_cache=ctx.cache, identity=info.identity, enabled=ctx.options.cache)


def failed_thresholds(result: dict[str, Any]) -> list[str]:
    """Every threshold failure of a run, as `variant/model: problem`."""
    return [f"{c['variant']}/{c['model']}: {p}" for c in result["cells"] for p in c["threshold_failures"]]
