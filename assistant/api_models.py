"""Request and response bodies of the HTTP API (the OpenAPI schema is derived from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.agent import AgentTurn, ProductCard, Suggestion, TraceStep
from tools.core.types import SearchFilters

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
MAX_EVENTS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeRequest(_Strict):
    """One query for the fast path."""

    query: str = Field(description="the shopper's query, Chinese or English")
    user_id: str | None = Field(default=None, pattern=ID_PATTERN, description="the shopper, if known")
    k: int = Field(default=10, ge=1, le=100, description="how many products to return")


class ChatRequest(_Strict):
    """One shopper message in a conversation."""

    message: str = Field(description="what the shopper typed")
    session_id: str | None = Field(default=None, pattern=ID_PATTERN,
                                   description="continue this conversation; a new one starts without it")
    user_id: str | None = Field(default=None, pattern=ID_PATTERN,
                                description="the shopper (re-ranks products by their history)")
    stream: bool = Field(default=False, description="answer with server-sent events (token…, then turn)")


class ChatTimings(BaseModel):
    """Where the time of a turn went, in milliseconds."""

    queue_ms: float = Field(description="waiting for a free model slot")
    first_token_ms: float | None = Field(default=None, description="from the start of the turn to the first token")
    total_ms: float = Field(description="the turn itself")


class ChatResponse(BaseModel):
    """The answer to one message: the reply, the products shown, follow-up chips and the trace of tool calls."""

    session_id: str
    user_id: str | None = None
    reply: str
    products: list[ProductCard] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    trace: list[TraceStep] = Field(default_factory=list)
    fallback: str | None = Field(default=None, description="why the templated reply was used, if it was")
    reply_replaced: bool = Field(default=False, description="streamed model text was discarded for `reply`")
    intent: str | None = None
    action: str
    lang: Literal["zh", "en"]
    clarification: bool = False
    used_model: bool = False
    corrected_query: str | None = None
    filters: SearchFilters | None = None
    relaxed: list[str] = Field(default_factory=list)
    refinements: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    timings: ChatTimings

    @classmethod
    def of(cls, turn: AgentTurn, queue_ms: float) -> ChatResponse:
        """The API view of an agent turn."""
        fields = turn.model_dump(include=set(cls.model_fields) - {"timings"})
        timings = ChatTimings(queue_ms=round(queue_ms, 1), first_token_ms=turn.first_token_ms,
                              total_ms=turn.total_ms)
        return cls(**fields, timings=timings)


class EventsRecorded(BaseModel):
    """What `POST /v1/events` stored."""

    recorded: int
    ids: list[int] | None = Field(default=None, description="ids of the stored events, in request order "
                                                             "(committed before the 201)")


class ErrorDetail(BaseModel):
    """One problem with a request field."""

    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """The error object, in the OpenAI shape: `type` is the class of error (invalid_request_error,
    authentication_error, rate_limit_error, server_error, …), `code` the specific reason, `param` the request
    field at fault (if one is)."""

    message: str
    type: str
    param: str | None = None
    code: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every error response: `{"error": {...}}`, never a stack trace."""

    error: ErrorBody


# --- OpenAI-compatible chat completions -------------------------------------------------------------------------
class ContentPart(BaseModel):
    """A part of a message's content; only text parts are understood."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class FunctionCall(BaseModel):
    """The function part of a tool call."""

    model_config = ConfigDict(extra="allow")

    name: str
    arguments: str = Field(description="the arguments as a JSON text")


class ToolCallItem(BaseModel):
    """A tool call of an assistant message."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class OpenAIMessage(BaseModel):
    """A chat message as the OpenAI API sends it."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallItem] | None = Field(default=None, description="an assistant message's tool calls")
    tool_call_id: str | None = Field(default=None, description="a tool message: the call it answers")

    def text(self) -> str:
        """The message's text (text parts joined); ValueError for parts that are not text."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        kinds = {p.type for p in self.content} - {"text"}
        if kinds:
            raise ValueError(f"only text content is supported, got {', '.join(sorted(kinds))}")
        return "".join(p.text or "" for p in self.content)


class StreamOptions(BaseModel):
    """OpenAI stream options: `include_usage` adds a last chunk with the usage and no choices."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class FunctionSpec(BaseModel):
    """A client's function tool: name, description and a JSON schema of its parameters."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(BaseModel):
    """A tool the client offers (only function tools exist)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: FunctionSpec


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat completion request. `tools`/`tool_choice`, `response_format`, `max_tokens` (or
    `max_completion_tokens`) and `stream_options` are honoured; other generation parameters (temperature, top_p,
    …) are accepted and ignored: the assistant's settings decide them."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(default=None, description="any name; the assistant answers as `shopquery`")
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, pattern=ID_PATTERN, description="the shopper id (personalization)")
    metadata: dict[str, Any] | None = Field(default=None,
                                            description="`session_id` here continues a conversation")
    n: int | None = Field(default=None, ge=1, le=1, description="only one choice is produced")
    tools: list[ToolSpec] | None = Field(default=None, max_length=128,
                                         description="the client's function tools; a message for one of them is "
                                                     "answered with a tool call")
    tool_choice: str | dict[str, Any] | None = Field(default=None, description="none, auto (default with tools), "
                                                     "required, or {type: function, function: {name}}")
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = Field(default=None, description="text, json_object or json_schema")
    max_tokens: int | None = Field(default=None, ge=1, description="caps the model's reply")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="caps the model's reply")


class CompletionMessage(BaseModel):
    """The assistant's message: text, or calls of the client's tools."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallItem] | None = None


class CompletionChoice(BaseModel):
    """The single choice of a completion."""

    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"
    logprobs: None = None


class CompletionUsage(BaseModel):
    """Tokens of the model calls the answer took (0 for a templated reply)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    """An OpenAI `chat.completion`, with the assistant's structured turn in `shopquery`."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage
    shopquery: ChatResponse | None = Field(default=None, description="products, suggestions, trace, session id: "
                                           "the full turn (absent for a tool call, a reply from tool results and "
                                           "structured output)")


class ModelCard(BaseModel):
    """One entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "shopquery"


class ModelList(BaseModel):
    """`GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
