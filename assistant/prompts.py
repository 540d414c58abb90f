"""The prompt loader: YAML files in prompts/, one per family, each template in zh and en, rendered by Jinja with
strict undefined variables (a missing variable is an error, never an empty string)."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from tools.core.errors import ConfigError
from tools.package_files import package_path

Lang = Literal["zh", "en"]
PROMPTS_DIR = package_path("prompts")


class PromptLibrary:
    """All prompt families found in a directory; `render(family, name, lang, **vars)` gives the text."""

    def __init__(self, directory: Path = PROMPTS_DIR, overrides: dict[str, dict[str, Any]] | None = None):
        self.directory = Path(directory)
        self.overrides = overrides or {}

    @cached_property
    def families(self) -> dict[str, dict[str, Any]]:
        """Family name -> parsed YAML document."""
        if not self.directory.is_dir():
            raise ConfigError(f"prompt directory not found: {self.directory}")
        found = {}
        for path in sorted(self.directory.glob("*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(doc.get("templates"), dict):
                raise ConfigError(f"{path}: a prompt file needs a 'templates' mapping")
            found[path.stem] = doc
        return found

    @cached_property
    def _env(self) -> Any:
        from jinja2 import Environment, StrictUndefined

        return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                           trim_blocks=True, lstrip_blocks=True)

    def source(self, family: str, name: str, lang: Lang) -> str:
        """The raw template text (an override wins over the file; a language it leaves out keeps the file's)."""
        override = self.overrides.get(family, {}).get(name)
        if isinstance(override, dict) and lang not in override:
            override = None
        entry = override if override is not None else self._entry(family, name)
        if isinstance(entry, str):
            return entry
        if lang in entry:
            return entry[lang]
        raise ConfigError(f"prompt {family}.{name} has no '{lang}' text")

    def _entry(self, family: str, name: str) -> Any:
        try:
            return self.families[family]["templates"][name]
        except KeyError:
            raise ConfigError(f"no prompt template {family}.{name} in {self.directory}") from None

    def render(self, family: str, name: str, lang: Lang, /, **variables: Any) -> str:
        """Render one template with the given variables."""
        return self._env.from_string(self.source(family, name, lang)).render(**variables).strip()

    def text_hash(self, family: str, name: str, lang: Lang) -> str:
        """A short hash of the template text, to record which prompt produced an output."""
        return hashlib.sha256(self.source(family, name, lang).encode("utf-8")).hexdigest()[:12]

    def template_names(self) -> list[tuple[str, str]]:
        """Every (family, template name) in the directory, sorted."""
        return sorted((family, name) for family, doc in self.families.items() for name in doc["templates"])

    def check_overrides(self) -> None:
        """ConfigError when an override names a family, template or language the directory does not have, or
        gives no text; call it before using a library built with overrides."""
        known = set(self.template_names())
        for family, templates in self.overrides.items():
            if family not in self.families:
                raise ConfigError(f"override for unknown prompt family {family!r} "
                                  f"(known: {', '.join(sorted(self.families))})")
            if not isinstance(templates, dict):
                raise ConfigError(f"override for prompt family {family!r} must map template names to text")
            for name, entry in templates.items():
                if (family, name) not in known:
                    names = sorted(n for f, n in known if f == family)
                    raise ConfigError(f"override for unknown template {family}.{name} (known: {', '.join(names)})")
                _check_entry(f"{family}.{name}", entry)

    def hashes(self) -> dict[str, str]:
        """"family/name/lang" -> text hash of every template and language (overrides applied)."""
        out: dict[str, str] = {}
        for family, name in self.template_names():
            override = self.overrides.get(family, {}).get(name)
            langs = {"zh", "en"} if isinstance(override, str) else set(override or {})
            entry = self._entry(family, name)
            langs |= {"zh", "en"} if isinstance(entry, str) else set(entry)
            langs &= {"zh", "en"}
            for lang in sorted(langs):
                out[f"{family}/{name}/{lang}"] = self.text_hash(family, name, lang)  # type: ignore[arg-type]
        return out

    def samples(self, family: str) -> dict[str, Any]:
        """Sample variables declared in the file (used to test-render every template)."""
        return dict(self.families[family].get("sample_variables", {}))


def _check_entry(where: str, entry: Any) -> None:
    """An override is a string or a mapping of zh/en to non-empty strings."""
    if isinstance(entry, str):
        if not entry.strip():
            raise ConfigError(f"override for {where} is empty")
        return
    if not isinstance(entry, dict) or not entry:
        raise ConfigError(f"override for {where} must be a text or a mapping with 'zh' and/or 'en'")
    for lang, text in entry.items():
        if lang not in ("zh", "en"):
            raise ConfigError(f"override for {where} has unknown language {lang!r} (use zh, en)")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"override for {where}.{lang} must be a non-empty text")
