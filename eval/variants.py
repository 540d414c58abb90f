"""Prompt variants: `prompts/variants/<name>.yaml` = {name, description, overrides: {family: {template: {zh, en}}}}.
A variant replaces some templates of the shipped prompts; "default" is the prompts as shipped. Every variant is
checked before a run: unknown families, templates or languages and templates that fail to render with the family's
sample variables are errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.prompts import PromptLibrary
from eval.specs import read_yaml_mapping
from tools.core.errors import ConfigError
from tools.package_files import package_path

DEFAULT = "default"
VARIANTS_DIR = package_path("prompts", "variants")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Variant(BaseModel):
    """One prompt variant (the default has no overrides and no file)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    description: str = ""
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    file: str | None = None

    def library(self, directory: Path | None = None) -> PromptLibrary:
        """A PromptLibrary with this variant's overrides."""
        return PromptLibrary(overrides=self.overrides) if directory is None else \
            PromptLibrary(directory, overrides=self.overrides)


def default_variant() -> Variant:
    """The prompts as shipped."""
    return Variant(name=DEFAULT, description="prompts as shipped")


def load_variant(path: Path, directory: Path | None = None) -> Variant:
    """Read and check one variant file; ConfigError naming the file for anything wrong."""
    path = Path(path)
    doc = read_yaml_mapping(path, "prompt variant",
                            "a prompt variant is a mapping with name, description and overrides")
    try:
        variant = Variant.model_validate({**doc, "file": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    if variant.name == DEFAULT:
        raise ConfigError(f"{path}: the name 'default' is kept for the prompts as shipped")
    if not variant.overrides:
        raise ConfigError(f"{path}: a variant needs at least one override")
    check_variant(variant, directory)
    return variant


def check_variant(variant: Variant, directory: Path | None = None) -> None:
    """Every override names a known template and renders with the family's sample variables."""
    library = variant.library(directory)
    where = variant.file or variant.name
    try:
        library.check_overrides()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for family, templates in variant.overrides.items():
        samples = library.samples(family)
        for name, entry in templates.items():
            langs = ("zh", "en") if isinstance(entry, str) else tuple(entry)
            for lang in langs:
                _render_check(library, family, name, lang, samples, where)


def _render_check(library: PromptLibrary, family: str, name: str, lang: Any, samples: dict[str, Any],
                  where: str) -> None:
    from jinja2 import TemplateError

    try:
        library.render(family, name, lang, **samples)
    except TemplateError as exc:
        raise ConfigError(f"{where}: template {family}.{name}.{lang} does not render with the sample "
                          f"variables of prompts/{family}.yaml: {type(exc).__name__}: {exc}") from None


def resolve_variants(paths: list[Path], include_default: bool = True,
                     directory: Path | None = None) -> list[Variant]:
    """The variants of a run in order: "default" first (unless left out), then each file; names must differ."""
    variants = [default_variant()] if include_default else []
    for path in paths:
        variants.append(load_variant(path, directory))
    names = [v.name for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"prompt variant name used twice: {', '.join(twice)}")
    if not variants:
        raise ConfigError("no prompt variant to run (give --variants or keep the default)")
    return variants
