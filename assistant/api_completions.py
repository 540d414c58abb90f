"""`POST /v1/chat/completions`: what one OpenAI-compatible request gets. A request that ends with the results of
the client's tools gets a reply written from them; a message for one of the client's `tools` gets a `tool_calls`
answer; a `response_format` with a JSON schema gets JSON matching it; anything else is the assistant's own turn.
Each answer carries the tokens its model calls took (`usage`) and why it stopped (`finish_reason`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from assistant import api_openai as oai
from assistant.api_models import ChatCompletionRequest, ChatResponse
from assistant.api_security import ApiError
from assistant.api_turns import TokenBridge, agent_turn, error_payload, run_in_slot
from assistant.client_tools import ClientModel, ClientTool, ModelAnswer, Usage
from assistant.validation import clean_query
from tools.core.errors import ModelOutputError

if TYPE_CHECKING:
    from tools.intent import IntentPrediction

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Plan:
    """What a request asks for, read (and checked) before any model slot is taken."""

    text: str
    earlier: list[tuple[str, str]]
    tools: list[ClientTool] = field(default_factory=list)
    choice: str = "none"
    schema: dict[str, Any] | None = None
    results: list[dict[str, str]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    cap: int | None = None


@dataclass
class Outcome:
    """The worker's result: the assistant's turn (with the tokens spent before it), or an answer without one."""

    turn: Any = None
    answer: ModelAnswer | None = None
    before: Usage = field(default_factory=Usage)


def plan_of(api: Any, body: ChatCompletionRequest) -> Plan:
    """Read the request: the turn's text, the client's tools and choice, the schema, the tool results; 400 for
    anything that cannot be honoured."""
    tools = oai.client_tools(body)
    results = oai.tool_results(body)
    text = ""
    earlier: list[tuple[str, str]] = []
    if not results or any(m.role == "user" for m in body.messages):
        text, earlier = oai.split_turn(body)
        text = clean_query(text, api.settings.max_query_chars)
    return Plan(text=text, earlier=earlier, tools=tools, choice=oai.tool_choice(body, tools),
                schema=oai.response_schema(body), results=results, messages=oai.conversation(body),
                cap=oai.reply_cap(body))


def _intent(api: Any, text: str) -> IntentPrediction | None:
    """The intent classifier's reading of the message (None when it is off or fails)."""
    if not api.settings.classify_intent:
        return None
    try:
        return api.assistant.intent_classifier.predict(text)
    except Exception:  # noqa: BLE001 - without an intent the model alone chooses
        return None


def work(api: Any, plan: Plan, session_id: str, user: str | None, bridge: TokenBridge | None,
         after: Any) -> Outcome:
    """Everything one request needs from the model, in a worker thread holding a model slot."""
    client = ClientModel(api.assistant.chat_model, api.assistant.prompts)
    if plan.results:
        return _counted(api, Outcome(answer=client.reply_from_results(plan.text, plan.results, plan.cap)),
                        "tool_results")
    before, notes = Usage(), []
    if plan.tools and plan.choice != "none":
        intent = _intent(api, plan.text) if plan.choice == "auto" else None
        answer = client.tool_call([*plan.earlier, ("user", plan.text)], plan.tools, plan.choice, intent)
        if answer.tool_calls:
            return _counted(api, Outcome(answer=answer), "tool_calls")
        before, notes = answer.usage, answer.notes
    if plan.schema is not None:
        try:
            answer = client.structured(plan.messages, plan.schema, plan.cap)
        except ModelOutputError as exc:  # the schema may be too hard or unsatisfiable: never a non-matching answer
            raise ApiError(422, "schema_not_met", f"no answer matching the response_format schema: {exc}",
                           param="response_format") from None
        answer.usage.add_counts(before.prompt_tokens, before.completion_tokens)
        return _counted(api, Outcome(answer=answer), "structured")
    on_token = bridge.put if bridge is not None else None
    oai.restore_history(api.assistant.agent, api.assistant.sessions, session_id, plan.earlier, user)
    turn = agent_turn(api, plan.text, session_id, user, "openai", on_token, after, plan.cap)
    turn.notes.extend(notes)
    return Outcome(turn=turn, before=before)


def _counted(api: Any, outcome: Outcome, kind: str) -> Outcome:
    api.metrics.observe_answer(kind, outcome.answer)
    return outcome


async def openai_turn(api: Any, body: ChatCompletionRequest, header_session: str | None) -> Response:
    """Answer one chat completion request (JSON, or chunks with stream=true)."""
    plan = plan_of(api, body)
    session_id, derived = oai.session_of(body, header_session, plan.earlier)
    session_id = session_id or uuid.uuid4().hex
    bridge = TokenBridge() if body.stream else None

    def alias(turn: Any) -> None:
        sent = "".join(bridge.texts) if bridge is not None else turn.reply
        key = oai.next_key(plan.earlier, plan.text, sent, body.user)
        if key is not None:
            oai.alias_session(api.assistant.sessions, turn.session_id, key)

    future, queue_ms = await run_in_slot(
        api, lambda: work(api, plan, session_id, body.user, bridge, alias if derived else None), session_id)
    headers = {"X-Session-Id": session_id}
    with_usage = bool(body.stream_options and body.stream_options.include_usage)
    if bridge is not None:
        bridge.end_with(future)
        frames = _chunks(bridge, future, queue_ms, with_usage, plan.cap is not None)
        return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS | headers)
    outcome = await future
    if outcome.answer is not None:
        result = oai.answer_completion(outcome.answer, oai.completion_id())
    else:
        turn = outcome.turn
        result = oai.completion(ChatResponse.of(turn, queue_ms), oai.completion_id(),
                                oai.turn_usage(turn, outcome.before), oai.turn_finish(turn, plan.cap is not None))
    return JSONResponse(result.model_dump(mode="json", exclude_none=False), headers=headers)


async def _chunks(bridge: TokenBridge, future: asyncio.Future, queue_ms: float,
                  with_usage: bool, capped: bool) -> AsyncIterator[bytes]:
    cid, created = oai.completion_id(), int(time.time())
    yield oai.data_frame(oai.chunk(cid, created, {"role": "assistant", "content": ""}, with_usage=with_usage))
    async for text in bridge.tokens():
        yield oai.data_frame(oai.chunk(cid, created, {"content": text}, with_usage=with_usage))
    try:
        outcome = await future
    except Exception as exc:  # noqa: BLE001 - the openai client raises APIError on an error payload
        yield oai.data_frame(error_payload(exc))
        yield oai.data_frame("[DONE]")
        return
    if outcome.answer is not None:
        for frame in oai.answer_chunks(outcome.answer, cid, created, with_usage)[1:]:
            yield oai.data_frame(frame)
    else:
        turn = outcome.turn
        full = ChatResponse.of(turn, queue_ms).model_dump(mode="json")
        yield oai.data_frame(oai.chunk(cid, created, {}, oai.turn_finish(turn, capped), {"shopquery": full},
                                       with_usage=with_usage))
        if with_usage:
            yield oai.data_frame(oai.usage_chunk(cid, created, oai.turn_usage(turn, outcome.before)))
    yield oai.data_frame("[DONE]")
