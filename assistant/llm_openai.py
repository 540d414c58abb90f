"""The OpenAI-compatible backend: any server that speaks the OpenAI chat API (vLLM first), through the `openai`
client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal, overload

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr, model_validator

from assistant.json_output import check_schema, validate_json  # noqa: F401 - part of this module's API
from assistant.llm_base import (
    JsonChatModel,
    one_line,
    usage_metadata,
)
from assistant.llm_openai_wire import (
    RawCall,
    StreamState,
    bound_names,
    build_tool_calls,
    native_calls,
    openai_tool_choice,
    split_params,
    to_openai_messages,
    tool_calls_from_content,
)
from tools.core.errors import InputError, ModelOutputError, ModelUnavailable


class OpenAICompatChatModel(JsonChatModel):
    """Any OpenAI-compatible server (vLLM first) through the `openai` client. Server quirks are flags:
    `json_constraint="structured_outputs"` sends JSON schemas as vLLM's `structured_outputs` instead of
    `response_format`; `parse_content_tool_calls` recovers tool calls a server left in the reply text (and
    repairs arguments cut off by max_tokens). Failures become ModelUnavailable / ModelOutputError / InputError;
    a broken tool call becomes an `invalid_tool_calls` entry, never an exception."""

    base_url: str
    model_name: str
    api_key: str = "not-needed"
    timeout_s: float = 60.0
    max_retries: int = 1
    json_constraint: Literal["response_format", "structured_outputs"] = "response_format"
    parse_content_tool_calls: bool = True
    stream_usage: bool = True

    _client: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _create_openai_client(self) -> OpenAICompatChatModel:
        """Create the HTTP client (no I/O happens until the first request)."""
        import openai

        self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s,
                                     max_retries=self.max_retries)
        return self

    @property
    def client(self) -> Any:
        """The underlying `openai.OpenAI` client."""
        return self._client

    @property
    def _llm_type(self) -> str:
        return "shopquery-openai-compatible"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model_name": self.model_name, "temperature": self.temperature}

    def ensure_ready(self) -> None:
        """Check that the server answers and serves the configured model."""
        with self._server_errors():
            served = [m.id for m in self._client.models.list()]
        if served and self.model_name not in served:
            raise ModelUnavailable(f"the server at {self.base_url} does not serve model {self.model_name!r} "
                                   f"(it serves: {', '.join(served)})")

    def request_body(self, messages: list[BaseMessage], stop: list[str] | None = None,
                     **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(OpenAI fields incl. model and messages, vLLM extra fields) that a call with these options sends."""
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, **kwargs}
        if "max_completion_tokens" in kwargs and "max_tokens" not in kwargs:
            params.pop("max_tokens")
        stops = [*(stop or []), *(params.pop("stop", None) or [])]
        if stops:
            params["stop"] = stops
        fields, extra = split_params(params, structured_outputs=self.json_constraint == "structured_outputs")
        return {"model": self.model_name, "messages": to_openai_messages(messages), **fields}, extra

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        client = self._client_for(kwargs.pop("timeout", None))
        fields, extra = self.request_body(messages, stop, **kwargs)
        with self._server_errors():
            data = client.chat.completions.create(**fields, extra_body=extra or None).model_dump()
        choice = data["choices"][0]
        message = self._reply(choice["message"].get("content") or "", native_calls(choice["message"]),
                              bound_names(fields), choice.get("finish_reason"), data)
        generation = ChatGeneration(message=message, generation_info={"finish_reason": choice.get("finish_reason")})
        return ChatResult(generations=[generation])

    def _client_for(self, timeout: float | None) -> Any:
        """The client, or for a call with its own deadline (`timeout=` seconds) one that gives up by then, once:
        a turn's deadline bounds a server that accepts the request and then sends nothing."""
        if timeout is None:
            return self._client
        return self._client.with_options(timeout=min(float(timeout), self.timeout_s), max_retries=0)

    @overload
    def _reply(self, content: str, raw: list[RawCall], names: list[str], finish: str | None,
               data: dict[str, Any], chunk: Literal[False] = False) -> AIMessage: ...

    @overload
    def _reply(self, content: str, raw: list[RawCall], names: list[str], finish: str | None,
               data: dict[str, Any], chunk: Literal[True]) -> AIMessageChunk: ...

    def _reply(self, content: str, raw: list[RawCall], names: list[str], finish: str | None,
               data: dict[str, Any], chunk: bool = False) -> AIMessage:
        """The reply as a LangChain message: native tool calls, else calls recovered from the text."""
        meta: dict[str, Any] = {"finish_reason": finish, "model_name": data.get("model") or self.model_name}
        if not raw and names and self.parse_content_tool_calls:
            raw, rest = tool_calls_from_content(content, names)
            if raw:
                content = rest
                meta["tool_calls_from_content"] = True
        calls, invalid, repaired = build_tool_calls(raw)
        if repaired:
            meta["repaired_tool_calls"] = repaired
        kind = AIMessageChunk if chunk else AIMessage
        return kind(content=content, tool_calls=calls, invalid_tool_calls=invalid, response_metadata=meta,
                    usage_metadata=usage_metadata(data.get("usage")), id=data.get("id"))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        client = self._client_for(kwargs.pop("timeout", None))
        fields, extra = self.request_body(messages, stop, **kwargs)
        if self.stream_usage:
            fields["stream_options"] = {"include_usage": True}
        names = bound_names(fields) if self.parse_content_tool_calls else []
        state = StreamState(hold_calls=bool(names))
        with self._server_errors():
            stream = client.chat.completions.create(**fields, stream=True, extra_body=extra or None)
            with stream:
                for chunk in stream:
                    text = state.add(chunk.model_dump())
                    if text:
                        yield self._text_chunk(text, run_manager)
        last = self._last_chunk(state, names)
        if last.content and run_manager:
            run_manager.on_llm_new_token(str(last.content))
        yield ChatGenerationChunk(message=last, generation_info={"finish_reason": state.finish})

    def _last_chunk(self, state: StreamState, names: list[str]) -> AIMessageChunk:
        """The closing chunk: held-back text (or the calls it holds), native calls, usage and metadata. Calls
        found in text that was already streamed are attached too, without repeating the text."""
        if state.held or state.native or not names:
            return self._reply(state.held, state.calls(), names, state.finish, state.data, chunk=True)
        last = self._reply("".join(state.streamed), [], names, state.finish, state.data, chunk=True)
        last.content = ""
        return last

    @staticmethod
    def _text_chunk(text: str, run_manager: Any) -> ChatGenerationChunk:
        gen = ChatGenerationChunk(message=AIMessageChunk(content=text))
        if run_manager:
            run_manager.on_llm_new_token(text, chunk=gen)
        return gen

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | bool | dict[str, Any] | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI form; tool_choice: None, "auto", "none", "required"/"any"/True or a tool name."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        formatted = [convert_to_openai_tool(t) for t in tools]
        choice = openai_tool_choice(tool_choice, formatted)
        return self.bind(tools=formatted, **({"tool_choice": choice} if choice is not None else {}), **kwargs)

    @contextlib.contextmanager
    def _server_errors(self) -> Iterator[None]:
        import openai

        where = f"the model server at {self.base_url}"
        try:
            yield
        except (openai.APIConnectionError, openai.AuthenticationError, openai.PermissionDeniedError,
                openai.NotFoundError, openai.InternalServerError) as exc:
            raise ModelUnavailable(f"{where} is unavailable for model {self.model_name!r}: "
                                   f"{one_line(exc)}") from None
        except openai.BadRequestError as exc:
            if "context length" in str(exc) or "maximum context" in str(exc):
                raise InputError(f"the conversation is too long for the model: {one_line(exc)}") from None
            raise ModelOutputError(f"{where} rejected the request: {one_line(exc)}") from None
        except openai.APIStatusError as exc:
            raise ModelOutputError(f"{where} rejected the request: {one_line(exc)}") from None
