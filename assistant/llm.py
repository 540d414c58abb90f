"""Choosing the chat model: the backend the settings name, built (embedded llama.cpp by default, or an
OpenAI-compatible server), and a one-line description of it. The backends: llm_base, llm_embedded, llm_openai."""

from __future__ import annotations

from assistant.json_output import check_schema, validate_json  # noqa: F401 - part of this module's API
from assistant.llm_base import JsonChatModel
from assistant.llm_embedded import EmbeddedChatModel
from assistant.llm_openai import OpenAICompatChatModel
from assistant.settings import Settings
from tools.core.errors import ModelUnavailable


def build_chat_model(settings: Settings, *, verify: bool = False, progress: bool = True) -> JsonChatModel:
    """The chat model the settings ask for (embedded: assembles/verifies the GGUF; the model loads lazily)."""
    if settings.llm_backend == "openai":
        return _openai_model(settings)
    from assistant.model_files import ensure_model_file

    path = ensure_model_file(settings, verify=verify, progress=progress)
    label = path.name if settings.llm_gguf_path else settings.llm_model
    return EmbeddedChatModel(model_path=path, model_label=label, n_ctx=settings.llm_context,
                             n_threads=settings.llm_threads)


def _openai_model(settings: Settings) -> OpenAICompatChatModel:
    try:
        import openai  # noqa: F401 - checked here so that a missing package fails with a clear message
    except ImportError as exc:
        raise ModelUnavailable(f"the openai package is not installed ({exc})") from None
    return OpenAICompatChatModel(
        base_url=str(settings.llm_base_url), model_name=str(settings.llm_model_name), api_key=settings.llm_api_key.get_secret_value(),
        timeout_s=settings.llm_timeout_s,
        json_constraint=getattr(settings, "llm_json_constraint", "response_format"),
    )


def describe_model(settings: Settings) -> str:
    """One status line naming the backend and model (no I/O)."""
    if settings.llm_backend == "openai":
        return f"OpenAI-compatible server {settings.llm_base_url}, model {settings.llm_model_name}"
    where = f"{settings.llm_gguf_path}" if settings.llm_gguf_path else f"{settings.llm_model} Q4_K_M (bundled)"
    return f"embedded llama.cpp, {where}, {settings.llm_threads} threads, context {settings.llm_context}"
