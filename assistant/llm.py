"""Chat models behind one interface: LangChain's BaseChatModel plus `generate_json` (schema-constrained output,
validated, retried). Two backends: llama.cpp in-process (embedded, default) and any OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from assistant.json_output import check_schema, validate_json  # noqa: F401 - part of this module's API
from assistant.llm_prefix import PrefixStore, common_prefix, template_formatter
from assistant.openai_compat import (
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
from assistant.settings import Settings
from tools.core.errors import InputError, ModelOutputError, ModelUnavailable
from tools.free_memory import release_free_memory

DEFAULT_TEMPERATURE = 0.2
DEFAULT_MAX_TOKENS = 512
JSON_RETRIES = 2
RETRY_TEMPERATURE = 0.7
SCHEMA_NAME = "output"

# Parameters the embedded backend passes on to llama.cpp; anything else a caller binds is ignored.
_LLAMA_PARAMS = frozenset("temperature max_tokens top_p top_k min_p repeat_penalty presence_penalty frequency_penalty "
                          "seed stop response_format logit_bias tools tool_choice logprobs top_logprobs".split())
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class JsonChatModel(BaseChatModel):
    """A chat model that can also answer with JSON matching a schema (see `generate_json`)."""

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
        retry = {"temperature": RETRY_TEMPERATURE, "seed": attempt} if attempt else {}
        reply = chat_model.invoke(messages, **params, **retry)
        if on_reply is not None:
            on_reply(reply)
        text = message_text(reply)
        attempts.append(text)
        try:
            return validate_json(text, schema)
        except (ValueError, ValidationError) as exc:
            problems.append(_one_line(exc))
    raise ModelOutputError(
        f"the model gave no valid JSON for schema {json_schema.get('title', SCHEMA_NAME)!r} in "
        f"{len(attempts)} attempts; last problem: {problems[-1]}", attempts,
    )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def message_text(message: BaseMessage) -> str:
    """The plain text of a message (text blocks joined)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI-style dicts for the GGUF chat template (tool calls keep dict arguments)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": _ROLES.get(m.type, "user"), "content": message_text(m)}
        if isinstance(m, AIMessage) and m.tool_calls:
            item["tool_calls"] = [
                {"id": c.get("id") or f"call_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": c["args"]}}
                for i, c in enumerate(m.tool_calls)
            ]
        if isinstance(m, ToolMessage):
            item["tool_call_id"] = m.tool_call_id
        out.append(item)
    return out


def llama_response_format(response_format: Any) -> dict[str, Any] | None:
    """An OpenAI `response_format` (json_schema, json_object, text or a pydantic class) in llama.cpp's form."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return {"type": "json_object", "schema": response_format.model_json_schema()}
    kind = response_format.get("type")
    if kind == "json_schema":
        return {"type": "json_object", "schema": response_format["json_schema"]["schema"]}
    if kind == "json_object":
        return response_format
    if kind == "text":
        return None
    raise InputError(f"unsupported response_format type {kind!r}")


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for c in message.get("tool_calls") or []:
        try:
            args = json.loads(c["function"]["arguments"] or "{}")
        except json.JSONDecodeError:
            args = {}
        calls.append({"name": c["function"]["name"], "args": args, "id": c.get("id"), "type": "tool_call"})
    return calls


def _usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if not usage:
        return None
    return {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}


def load_llama(model_path: Path, n_ctx: int, n_threads: int) -> Any:
    """A llama.cpp model loaded from `model_path`; ModelUnavailable if the runtime or the file fails."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelUnavailable(f"llama-cpp-python is not installed ({exc}); run scripts/setup.sh") from None
    if not model_path.is_file():
        raise ModelUnavailable(f"model file not found: {model_path}")
    try:
        return Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                     verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelUnavailable(f"llama.cpp could not load {model_path}: {_one_line(exc)}") from None


class EmbeddedChatModel(JsonChatModel):
    """llama.cpp in-process: the GGUF's own chat template, token streaming, grammar-constrained JSON and named
    tool calls. Loaded once on first use; calls are serialized because a llama.cpp context is not thread-safe."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    model_label: str = ""
    n_ctx: int = 4096
    n_threads: int = 2
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    top_p: float = 0.9
    repeat_penalty: float = 1.05
    stop: list[str] | None = None
    seed: int | None = None

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _prefixes: PrefixStore = PrivateAttr(default_factory=PrefixStore)
    _formatter: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "shopquery-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "n_ctx": self.n_ctx, "temperature": self.temperature}

    def ensure_ready(self) -> None:
        """Load the model now (otherwise it loads on the first call)."""
        self.load()

    def load(self) -> Any:
        """The loaded llama.cpp model (loads it once)."""
        with self._lock:
            return self._loaded()

    def _loaded(self) -> Any:
        if self._llama is None:
            self._llama = load_llama(self.model_path, self.n_ctx, self.n_threads)
            release_free_memory()
        return self._llama

    def chat_completion(self, messages: list[dict[str, Any]], *, stream: bool = False,
                        **params: Any) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """An OpenAI-format chat completion (or an iterator of chunks) from the model, under the model lock."""
        params = {k: v for k, v in params.items() if k in _LLAMA_PARAMS}
        params["response_format"] = llama_response_format(params.get("response_format"))
        if stream:
            return self._locked_stream(messages, params)
        with self._lock, _request_errors():
            self._use_kept_prefix(messages, params)
            return self._loaded().create_chat_completion(messages=messages, **params)

    def _locked_stream(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The chunks, then one chunk with no choices and the call's token usage (llama.cpp streams none)."""
        with self._lock, _request_errors():
            self._use_kept_prefix(messages, params)
            texts: list[str] = []
            for chunk in self._loaded().create_chat_completion(messages=messages, stream=True, **params):
                for choice in chunk.get("choices") or []:
                    texts.append((choice.get("delta") or {}).get("content") or "")
                yield chunk
            yield {"choices": [], "usage": self._stream_usage(messages, params, "".join(texts))}

    def _stream_usage(self, messages: list[dict[str, Any]], params: dict[str, Any], text: str) -> dict[str, int]:
        """Prompt and completion tokens of a streamed call, counted with the model's tokenizer."""
        try:
            prompt = len(self._prompt_tokens(messages, params))
            completion = len(self._loaded().tokenize(text.encode("utf-8"), add_bos=False, special=False)) \
                if text else 0
        except Exception:  # noqa: BLE001 - counting is best effort; the reply itself is what matters
            return {}
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def keep_prefix(self, samples: Sequence[LanguageModelInput]) -> int:
        """Keep the model state after the tokens that every prompt in `samples` (two or more renderings of one
        prompt with different data) starts with, so that later prompts starting with them evaluate only the
        rest; returns the number of tokens kept (0 when they share none)."""
        with self._lock, _request_errors():
            llama = self._loaded()
            prompts = [self._prompt_tokens(to_chat_dicts(self._convert_input(s).to_messages()), {})
                       for s in samples]
            shared = min(common_prefix(prompts[0], p) for p in prompts[1:]) if len(prompts) > 1 else 0
            # the last shared token may merge differently with what follows it in another prompt
            head = prompts[0][: max(0, shared - 1)]
            if not head or self._prefixes.keep(llama, head) is None:
                return 0
            return len(head)

    @property
    def kept_prefixes(self) -> int:
        """How many prompt prefixes are kept."""
        return len(self._prefixes)

    @property
    def prefix_restores(self) -> int:
        """How many prompts started from a kept prefix that the model no longer held."""
        return self._prefixes.restores

    def drop_prefixes(self) -> None:
        """Forget every kept prefix."""
        with self._lock:
            self._prefixes = PrefixStore()

    def _use_kept_prefix(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> None:
        """Copy back the kept prefix this prompt starts with, when the model no longer holds it."""
        if not len(self._prefixes):
            return
        llama = self._loaded()
        try:
            tokens = self._prompt_tokens(messages, params)
        except Exception:  # noqa: BLE001 - only a shortcut: llama.cpp renders and checks the prompt itself
            return
        self._prefixes.prepare(llama, tokens)

    def _prompt_tokens(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> list[int]:
        """The prompt tokens llama.cpp's chat handler builds for these messages (the GGUF's chat template)."""
        llama = self._loaded()
        if self._formatter is None:
            self._formatter = template_formatter(llama)
        if self._formatter is False:
            return []
        result = self._formatter(messages=messages, tools=params.get("tools"), tool_choice=params.get("tool_choice"))
        return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                                  "top_p": self.top_p, "repeat_penalty": self.repeat_penalty, "seed": self.seed}
        params.update(kwargs)
        stops = [*(self.stop or []), *(stop or []), *(params.pop("stop", None) or [])]
        if stops:
            params["stop"] = stops
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        result = self.chat_completion(to_chat_dicts(messages), **self._params(stop, kwargs))
        choice = result["choices"][0]
        finish = choice.get("finish_reason")
        message = AIMessage(
            content=choice["message"].get("content") or "",
            tool_calls=_tool_calls(choice["message"]),
            usage_metadata=_usage(result.get("usage")),
            response_metadata={"finish_reason": finish, "model_name": self.model_label or self.model_path.name},
        )
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        chunks = self.chat_completion(to_chat_dicts(messages), stream=True, **self._params(stop, kwargs))
        for chunk in chunks:
            if not chunk.get("choices"):
                usage = _usage(chunk.get("usage"))
                if usage:
                    yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
                continue
            choice = chunk["choices"][0]
            text = choice.get("delta", {}).get("content") or ""
            finish = choice.get("finish_reason")
            if not text and not finish:
                continue
            meta = {"finish_reason": finish} if finish else {}
            gen = ChatGenerationChunk(message=AIMessageChunk(content=text, response_metadata=meta))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=gen)
            yield gen

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; a named tool (or "required"/"any" with one tool) is called with grammar-constrained args."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        formatted = [convert_to_openai_tool(t) for t in tools]
        choice = _named_tool_choice(tool_choice, formatted)
        return self.bind(tools=formatted, **({"tool_choice": choice} if choice else {}), **kwargs)


def _named_tool_choice(choice: str | dict[str, Any] | None, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    if choice is None or choice in ("auto", "none") or isinstance(choice, dict):
        return choice if isinstance(choice, dict) else None
    names = [t["function"]["name"] for t in tools]
    if choice in ("required", "any"):
        if len(names) != 1:
            raise InputError("the embedded model can force a tool call only by name (or with exactly one tool)")
        choice = names[0]
    if choice not in names:
        raise InputError(f"tool_choice {choice!r} is not among the bound tools: {', '.join(names)}")
    return {"type": "function", "function": {"name": choice}}


@contextlib.contextmanager
def _request_errors() -> Iterator[None]:
    try:
        yield
    except ValueError as exc:
        if "context window" in str(exc):
            raise InputError(f"the conversation is too long for the model: {_one_line(exc)}") from None
        raise


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
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
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
                    usage_metadata=_usage(data.get("usage")), id=data.get("id"))

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
                                   f"{_one_line(exc)}") from None
        except openai.BadRequestError as exc:
            if "context length" in str(exc) or "maximum context" in str(exc):
                raise InputError(f"the conversation is too long for the model: {_one_line(exc)}") from None
            raise ModelOutputError(f"{where} rejected the request: {_one_line(exc)}") from None
        except openai.APIStatusError as exc:
            raise ModelOutputError(f"{where} rejected the request: {_one_line(exc)}") from None


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
