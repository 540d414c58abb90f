"""The chat-model interface every backend implements: LangChain's BaseChatModel plus `generate_json` (JSON
constrained to a schema, validated, retried), and the message helpers the backends share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.messages.ai import UsageMetadata
from pydantic import BaseModel, ValidationError

from assistant.json_output import check_schema, validate_json  # noqa: F401 - part of this module's API
from tools.core.errors import ModelOutputError

DEFAULT_TEMPERATURE = 0.2
DEFAULT_MAX_TOKENS = 512
JSON_RETRIES = 2
RETRY_TEMPERATURE = 0.7
SCHEMA_NAME = "output"

# Parameters the embedded backend passes on to llama.cpp; anything else a caller binds is ignored.


class JsonChatModel(BaseChatModel):
    """A chat model that can also answer with JSON matching a schema (see `generate_json`)."""

    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS

    def generate_json(
        self, messages: LanguageModelInput, schema: dict[str, Any] | type[BaseModel], *,
        retries: int = JSON_RETRIES, max_tokens: int | None = None, on_reply: Callable[[Any], None] | None = None,
    ) -> dict[str, Any]:
        """JSON object matching `schema`, constrained at decode time, validated, retried up to `retries` times."""
        return generate_json(self, messages, schema, retries=retries, max_tokens=max_tokens, on_reply=on_reply)

    def ensure_ready(self) -> None:
        """Load or reach the model now; raises ModelUnavailable with a clear message if that fails."""

    def keep_prefix(self, samples: Sequence[LanguageModelInput]) -> int:
        """Keep the evaluated head that the prompts in `samples` share, for later prompts that start with it;
        the number of tokens kept (0 here: a server caches prompt prefixes itself, as vLLM does)."""
        return 0


def json_schema_of(schema: dict[str, Any] | type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for a dict schema or a pydantic model class."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        return schema
    raise TypeError(f"schema must be a dict or a pydantic model class, not {type(schema).__name__}")


def json_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI `response_format` that constrains output to `schema` (both backends accept it)."""
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}


def generate_json(
    chat_model: BaseChatModel, messages: LanguageModelInput, schema: dict[str, Any] | type[BaseModel], *,
    retries: int = JSON_RETRIES, max_tokens: int | None = None, on_reply: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Ask any chat model for JSON matching `schema`; validate; retry; ModelOutputError with every attempt.
    `on_reply` sees every reply message (its token usage, its finish reason)."""
    json_schema = json_schema_of(schema)
    params: dict[str, Any] = {"response_format": json_response_format(json_schema)}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    attempts: list[str] = []
    problems: list[str] = []
    for attempt in range(retries + 1):
        retry: dict[str, Any] = {"temperature": RETRY_TEMPERATURE, "seed": attempt} if attempt else {}
        reply = chat_model.invoke(messages, **params, **retry)
        if on_reply is not None:
            on_reply(reply)
        text = message_text(reply)
        attempts.append(text)
        try:
            return validate_json(text, schema)
        except (ValueError, ValidationError) as exc:
            problems.append(one_line(exc))
    raise ModelOutputError(
        f"the model gave no valid JSON for schema {json_schema.get('title', SCHEMA_NAME)!r} in "
        f"{len(attempts)} attempts; last problem: {problems[-1]}", attempts,
    )


def one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def message_text(message: BaseMessage) -> str:
    """The plain text of a message (text blocks joined)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)


def usage_metadata(usage: dict[str, Any] | None) -> UsageMetadata | None:
    """OpenAI-style token usage as LangChain usage metadata (None when the reply carries none)."""
    if not usage:
        return None
    return {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}
