"""Suite files: `eval/suites/<name>.yaml` declares a suite (kind, dataset, optional catalog, options, the metrics
to report, thresholds and metric directions). Relative paths in a suite file are relative to the file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import ConfigError, InputError
from eval.report_record import metric_direction
from eval.suites import SUITES

SUITES_DIR = Path(__file__).resolve().parent / "suites"
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
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    directions: dict[str, Direction] = Field(default_factory=dict)
    uses_model: bool | None = Field(default=None, description="run across variants x models (default: agent "
                                                              "suites, and expansion with llm_sample)")
    file: Path | None = None

    @model_validator(mode="after")
    def _known_options(self) -> SuiteSpec:
        unknown = sorted(set(self.options) - KIND_OPTIONS[self.kind])
        if unknown:
            known = ", ".join(sorted(KIND_OPTIONS[self.kind])) or "none"
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for a {self.kind} suite (known: {known})")
        return self

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
    spec.data = _resolved(base, spec.data)
    if not spec.data.is_file():
        raise ConfigError(f"{path}: data file not found: {spec.data}")
    if spec.catalog is not None:
        spec.catalog = _resolved(base, spec.catalog)
        if not spec.catalog.is_file():
            raise ConfigError(f"{path}: catalog file not found: {spec.catalog}")
    return spec


def _resolved(base: Path, path: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def resolve_suites(target: str) -> list[SuiteSpec]:
    """Suite files for a suite name (eval/suites/<name>.yaml), a YAML path or a directory of YAML files."""
    path = Path(target)
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise InputError(f"no suite files (*.yaml) in {path}")
        return [load_suite_file(f) for f in files]
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
