"""The embedded backend: a GGUF model run by llama.cpp in-process (the default chat model)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, PrivateAttr

from assistant.json_output import check_schema, validate_json  # noqa: F401 - part of this module's API
from assistant.llm_base import (
    JsonChatModel,
    message_text,
    one_line,
    usage_metadata,
)
from assistant.llm_prefix import PrefixStore, common_prefix, template_formatter
from tools.core.errors import InputError, ModelUnavailable
from tools.free_memory import release_free_memory

# Parameters the embedded backend passes on to llama.cpp; anything else a caller binds is ignored.
_LLAMA_PARAMS = frozenset("temperature max_tokens top_p top_k min_p repeat_penalty presence_penalty frequency_penalty "
                          "seed stop response_format logit_bias tools tool_choice logprobs top_logprobs".split())
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


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
        raise ModelUnavailable(f"llama.cpp could not load {model_path}: {one_line(exc)}") from None


class EmbeddedChatModel(JsonChatModel):
    """llama.cpp in-process: the GGUF's own chat template, token streaming, grammar-constrained JSON and named
    tool calls. Loaded once on first use; calls are serialized because a llama.cpp context is not thread-safe."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    model_label: str = ""
    n_ctx: int = 4096
    n_threads: int = 2
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

    @overload
    def chat_completion(self, messages: list[dict[str, Any]], *, stream: Literal[False] = False,
                        **params: Any) -> dict[str, Any]: ...

    @overload
    def chat_completion(self, messages: list[dict[str, Any]], *, stream: Literal[True],
                        **params: Any) -> Iterator[dict[str, Any]]: ...

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
            yield {"choices": [], "usage": self._streamusage_metadata(messages, params, "".join(texts))}

    def _streamusage_metadata(self, messages: list[dict[str, Any]], params: dict[str, Any], text: str) -> dict[str, int]:
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
            usage_metadata=usage_metadata(result.get("usage")),
            response_metadata={"finish_reason": finish, "model_name": self.model_label or self.model_path.name},
        )
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        chunks = self.chat_completion(to_chat_dicts(messages), stream=True, **self._params(stop, kwargs))
        for chunk in chunks:
            if not chunk.get("choices"):
                usage = usage_metadata(chunk.get("usage"))
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
            raise InputError(f"the conversation is too long for the model: {one_line(exc)}") from None
        raise
