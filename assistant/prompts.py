"""The prompt loader: YAML files in prompts/, one per family, each template in zh and en, rendered by Jinja with
strict undefined variables (a missing variable is an error, never an empty string)."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from assistant.errors import ConfigError

Lang = Literal["zh", "en"]
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


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
        """The raw template text (an override wins over the file)."""
        override = self.overrides.get(family, {}).get(name)
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

    def samples(self, family: str) -> dict[str, Any]:
        """Sample variables declared in the file (used to test-render every template)."""
        return dict(self.families[family].get("sample_variables", {}))
