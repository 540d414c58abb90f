"""Model specs of an eval matrix: `embedded:qwen2.5-coder-0.5b`, `embedded:/path/to/model.gguf`,
`openai:http://host:8000/v1#model-name`; each becomes Settings for that backend and a recorded identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from assistant.settings import Settings
from tools.core.errors import InputError

NO_MODEL = "none"


class ModelInfo(BaseModel):
    """Which model produced a cell's outputs."""

    backend: Literal["embedded", "openai", "none"]
    name: str
    sha256: str | None = None
    path: str | None = None
    base_url: str | None = None

    @property
    def identity(self) -> str:
        """`backend:name[@sha256 prefix]` (openai: `openai:URL#name`); also part of every cache key."""
        if self.backend == "openai":
            return f"openai:{self.base_url}#{self.name}"
        if self.backend == "none":
            return NO_MODEL
        return f"embedded:{self.name}" + (f"@{self.sha256[:12]}" if self.sha256 else "")


class ModelChoice(BaseModel):
    """One model of the matrix: the spec as written and the settings changes that select it."""

    spec: str
    update: dict[str, Any]

    def settings(self, base: Settings) -> Settings:
        """The base settings switched to this model."""
        return base.model_copy(update=self.update)


def parse_model_spec(spec: str) -> ModelChoice:
    """A ModelChoice for `embedded:<bundled key or .gguf path>` or `openai:<base url>#<model name>`."""
    from assistant.model_files import MODELS

    backend, sep, rest = spec.strip().partition(":")
    if not sep or not rest:
        raise InputError(f"model spec {spec!r}: expected embedded:<model> or openai:<url>#<name>")
    if backend == "embedded":
        if rest in MODELS:
            return ModelChoice(spec=spec, update={"llm_backend": "embedded", "llm_model": rest,
                                                  "llm_gguf_path": None})
        if rest.endswith(".gguf") or "/" in rest:
            path = Path(rest).expanduser()
            if not path.is_file():
                raise InputError(f"model spec {spec!r}: no GGUF file at {path}")
            return ModelChoice(spec=spec, update={"llm_backend": "embedded", "llm_gguf_path": path.resolve()})
        raise InputError(f"model spec {spec!r}: unknown bundled model {rest!r} "
                         f"(bundled: {', '.join(sorted(MODELS))}; or give a .gguf path)")
    if backend == "openai":
        url, hash_sign, name = rest.rpartition("#")
        if not hash_sign or not url.startswith(("http://", "https://")) or not name:
            raise InputError(f"model spec {spec!r}: expected openai:http(s)://host:port/v1#model-name")
        return ModelChoice(spec=spec, update={"llm_backend": "openai", "llm_base_url": url, "llm_model_name": name})
    raise InputError(f"model spec {spec!r}: unknown backend {backend!r} (embedded or openai)")


def configured_spec(settings: Settings) -> str:
    """The spec of the model the settings select (the matrix default)."""
    if settings.llm_backend == "openai":
        return f"openai:{settings.llm_base_url}#{settings.llm_model_name}"
    if settings.llm_gguf_path:
        return f"embedded:{settings.llm_gguf_path}"
    return f"embedded:{settings.llm_model}"


def parse_model_list(text: str | None, settings: Settings) -> list[ModelChoice]:
    """Comma-separated specs (duplicates are an error); the configured model when none are given."""
    specs = [s.strip() for s in (text or "").split(",") if s.strip()] or [configured_spec(settings)]
    if len(set(specs)) != len(specs):
        raise InputError(f"a model is listed twice in --models: {text}")
    return [parse_model_spec(s) for s in specs]


def model_info(settings: Settings, chat_model: Any = None) -> ModelInfo:
    """The identity of the model the settings select (a custom GGUF is hashed once; bundled ones are known)."""
    if settings.llm_backend == "openai":
        return ModelInfo(backend="openai", name=str(settings.llm_model_name), base_url=str(settings.llm_base_url))
    from assistant.model_files import MODELS, file_sha256

    if settings.llm_gguf_path:
        path = Path(settings.llm_gguf_path)
        return ModelInfo(backend="embedded", name=path.name, path=str(path), sha256=file_sha256(path)[1])
    spec = MODELS[settings.llm_model]
    path = getattr(chat_model, "model_path", None)
    return ModelInfo(backend="embedded", name=spec.key, sha256=spec.sha256, path=str(path) if path else None)
