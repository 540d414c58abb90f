"""Suite files: `eval/suites/<name>.yaml` declares a suite (kind, dataset, optional catalog, options, the metrics
to report, the headline metrics of the report's first screen, thresholds, metric directions and rows). Relative
paths in a suite file are relative to the file's folder; a path starting with `{shared_data}/` is inside the real
data folder (`$SHOPQUERY_DATA`, else `../shared/data` next to the checkout).

A row is one configuration of the product to run the suite with: its own `options` (over the suite's) and
`settings` switches (any Settings field, e.g. `correct_spelling: false`). A suite without rows runs one row,
"default". Resources that do not depend on settings (store, embedder, corrector...) are shared between rows."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from eval.report_record import metric_direction
from eval.suites import SUITES
from tools.core.errors import ConfigError, InputError
from tools.package_files import package_path

SUITES_DIR = package_path("eval", "suites")
CHECKOUT = SUITES_DIR.parent.parent
SHARED_DATA = "{shared_data}"
SHARED_DATA_ENV = "SHOPQUERY_DATA"
Direction = Literal["higher", "lower"]
# the options each suite kind's run() understands (anything else in a suite file is an error)
KIND_OPTIONS: dict[str, set[str]] = {
    "retrieval": {"mode"}, "attributes": {"slots", "errors"}, "spelling": set(), "intent": set(),
    "expansion": {"llm_sample"}, "agent": {"use_model", "tool_calls"},
}


class Threshold(BaseModel):
    """A bound on one metric: `min` (must be >=) and/or `max` (must be <=)."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min and/or max")
        return self

    def problem(self, metric: str, value: Any) -> str | None:
        """Why `value` breaks the bound (None when it holds)."""
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"{metric} missing (no numeric value)"
        if self.min is not None and value < self.min:
            return f"{metric} {value:g} < {self.min:g}"
        if self.max is not None and value > self.max:
            return f"{metric} {value:g} > {self.max:g}"
        return None


class MissingRealData(ConfigError):
    """A suite's data lives in the real data folder, which is not on this machine."""


def shared_data_dir() -> Path:
    """The real data folder: $SHOPQUERY_DATA, else ../shared/data next to the checkout."""
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env).expanduser() if env else (CHECKOUT.parent / "shared" / "data").resolve()


class Row(BaseModel):
    """One configuration a suite runs with: options over the suite's and Settings switches."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    thresholds: dict[str, Threshold] = Field(default_factory=dict, description="over the suite's, this row only")

    @model_validator(mode="after")
    def _known_settings(self) -> Row:
        from assistant.settings import Settings

        fields = Settings.model_fields
        for key, value in self.settings.items():
            if key not in fields:
                raise ValueError(f"row {self.name}: unknown setting {key!r} (a field of assistant.settings."
                                 "Settings, e.g. correct_spelling)")
            try:
                self.settings[key] = TypeAdapter(fields[key].annotation).validate_python(value)
            except ValidationError as exc:
                raise ValueError(f"row {self.name}: setting {key}: {exc.errors()[0]['msg']}") from None
        return self


DEFAULT_ROW = Row(name="default", description="the product as configured")


class SuiteSpec(BaseModel):
    """One suite file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    kind: Literal["retrieval", "attributes", "spelling", "intent", "expansion", "agent"]
    description: str = ""
    data: Path
    catalog: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list, description="reported in the summary table")
    headline: list[str] = Field(default_factory=list, description="the report's first screen (default: the "
                                                                  "first three of metrics)")
    rows: list[Row] = Field(default_factory=list, description="configurations to run (default: one row)")
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    directions: dict[str, Direction] = Field(default_factory=dict)
    uses_model: bool | None = Field(default=None, description="run across variants x models (default: agent "
                                                              "suites, and expansion with llm_sample)")
    file: Path | None = None
    real_data: bool = Field(default=False, description="set when the data is in the real data folder")

    @model_validator(mode="after")
    def _known_options(self) -> SuiteSpec:
        for where, options in [("options", self.options), *((f"row {r.name}", r.options) for r in self.rows)]:
            unknown = sorted(set(options) - KIND_OPTIONS[self.kind])
            if unknown:
                known = ", ".join(sorted(KIND_OPTIONS[self.kind])) or "none"
                raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)} for a {self.kind} suite "
                                 f"(known: {known})")
        names = [r.name for r in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"row names must differ: {', '.join(names)}")
        return self

    @property
    def run_rows(self) -> list[Row]:
        """The rows to run (one default row when the file declares none)."""
        return self.rows or [DEFAULT_ROW]

    @property
    def headline_metrics(self) -> list[str]:
        """The metrics of the report's first screen."""
        return self.headline or self.metrics[:3]

    @property
    def model_matrix(self) -> bool:
        """Whether this suite's outputs depend on the prompts and the chat model."""
        if self.uses_model is not None:
            return self.uses_model
        return self.kind == "agent" and self.options.get("use_model", True) is not False or \
            (self.kind == "expansion" and bool(self.options.get("llm_sample")))

    def direction(self, metric: str) -> Direction:
        """Whether a larger value of `metric` is better (declared, else inferred from its name)."""
        return metric_direction(metric, self.directions) or "higher"


def read_yaml_mapping(path: Path, what: str, shape: str) -> dict[str, Any]:
    """The YAML mapping in `path`; ConfigError naming the file when it is missing, not YAML or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: {shape}")
    return doc


def load_suite_file(path: Path) -> SuiteSpec:
    """Read and check a suite file; ConfigError naming the file and the field for anything wrong."""
    path = Path(path)
    doc = read_yaml_mapping(path, "suite file", "a suite file is a mapping (name, kind, data, ...)")
    try:
        spec = SuiteSpec.model_validate({**doc, "file": path})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    base = path.resolve().parent
    spec.real_data = any(str(p).startswith(SHARED_DATA) for p in (spec.data, spec.catalog) if p is not None)
    for field, what in (("data", "data file"), ("catalog", "catalog file")):
        value = getattr(spec, field)
        if value is None:
            continue
        resolved = _resolved(base, value)
        if not resolved.is_file():
            if str(value).startswith(SHARED_DATA):
                raise MissingRealData(f"{path}: {what} not found: {resolved} (the real data folder is "
                                      f"{shared_data_dir()}; set ${SHARED_DATA_ENV} to the folder that holds "
                                      "relevance_dev/)")
            raise ConfigError(f"{path}: {what} not found: {resolved}")
        setattr(spec, field, resolved)
    return spec


def _resolved(base: Path, path: Path) -> Path:
    text = str(path)
    if text.startswith(SHARED_DATA):
        return (shared_data_dir() / text[len(SHARED_DATA):].lstrip("/\\")).resolve()
    path = Path(path).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _suites_in(folder: Path) -> list[SuiteSpec]:
    """Every suite file of a folder, real-data suites first; those whose real data is absent are skipped."""
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise InputError(f"no suite files (*.yaml) in {folder}")
    specs = []
    for file in files:
        try:
            specs.append(load_suite_file(file))
        except MissingRealData as exc:
            print(f"(skipped: {exc})", file=sys.stderr)
    return sorted(specs, key=lambda s: not s.real_data)


def resolve_suites(target: str) -> list[SuiteSpec]:
    """Suite files for a suite name (eval/suites/<name>.yaml), a YAML path or a directory of YAML files."""
    path = Path(target)
    if path.is_dir():
        return _suites_in(path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return [load_suite_file(path)]
    named = SUITES_DIR / f"{target}.yaml"
    if named.is_file():
        return [load_suite_file(named)]
    known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml")))
    raise InputError(f"unknown suite {target!r}: not a file, a folder or a suite name (known: {known}; "
                     f"suite kinds: {', '.join(SUITES)})")


def display_path(path: Path | None) -> str | None:
    """A path relative to the working directory when it is inside it (as recorded in runs)."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
