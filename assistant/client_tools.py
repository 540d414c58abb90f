"""What the chat model does for an OpenAI-compatible client beyond the assistant's own turn: pick one of the
client's tools for a message (a choice constrained to the tools' names), fill in its arguments (JSON constrained to
the tool's own schema, validated with jsonschema, numbers checked against what the shopper wrote), reply from the
results the client's tools returned, and answer with JSON matching a client's schema. Every model call's token
usage is counted; a model that fails gives a clean fallback (the assistant's own turn, or the templated reply).

Which messages go to a client tool: a named `tool_choice` always does; with "auto", a message the intent classifier
reads as shopping (search, compare, purchase, product questions, recommendations) with confidence is answered by
the assistant itself, and any other message is put to the model with the tools' names and "none" to choose from."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from assistant.agent_types import short
from assistant.dialogue import language_of
from assistant.llm_base import generate_json, message_text
from assistant.reply_checks import reply_problem
from tools.core.errors import ModelOutputError

FAMILY = "client_tools"
SHOPPING_INTENTS = frozenset({"product_search", "compare", "purchase", "product_qa", "recommend"})
SURE = 0.5  # intent probability from which a shopping message stays with the assistant under tool_choice "auto"
NONE = "none"
CHOICE_TOKENS = 24
ARGUMENT_TOKENS = 200
ARGUMENT_ATTEMPTS = 2
RESULT_REPLY_TOKENS = 160
STRUCTURED_TOKENS = 512
CONVERSATION_TURNS = 6
_DIGITS = re.compile(r"\d{3,}")


@dataclass
class Usage:
    """Tokens of the model calls of one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, message: Any) -> None:
        """Add what a model reply reports in its usage metadata."""
        meta = getattr(message, "usage_metadata", None) or {}
        self.prompt_tokens += int(meta.get("input_tokens") or 0)
        self.completion_tokens += int(meta.get("output_tokens") or 0)

    def add_counts(self, prompt: int, completion: int) -> None:
        """Add counted tokens."""
        self.prompt_tokens += prompt
        self.completion_tokens += completion


@dataclass
class ClientTool:
    """A function tool from the client's request."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ToolCall:
    """A call of a client tool with validated arguments."""

    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:24])


@dataclass
class ModelAnswer:
    """An answer written without the assistant's turn: text, or tool calls, with usage and notes."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    notes: list[str] = field(default_factory=list)


def facts_of(result: str) -> list[str]:
    """A tool result as short "name: value" lines (a JSON object's members; any other result as it is)."""
    try:
        value = json.loads(result)
    except ValueError:
        return [result.strip()]
    if not isinstance(value, dict):
        return [result.strip()]
    return [f"{k}: {v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v, ensure_ascii=False)}"
            for k, v in value.items()]


def result_values(result: str) -> list[str]:
    """The values a reply that uses this result would repeat: a JSON object's text and number values, else the
    result's numbers and longer words."""
    try:
        value = json.loads(result)
    except ValueError:
        value = None
    if isinstance(value, dict):
        found = [str(v) for v in value.values() if isinstance(v, str | int | float) and not isinstance(v, bool)]
    else:
        found = re.findall(r"\d+(?:[.-]\d+)*|[^\W\d_]{4,}", result)
    return [v for v in found if len(v.strip()) >= 2]


def uses_results(text: str, results: list[dict[str, Any]]) -> bool:
    """True when the reply repeats at least one value of the results (or the results hold none to repeat)."""
    values = [v.lower() for r in results for v in result_values(r["result"])]
    return not values or any(v in text.lower() for v in values)


def ungrounded(arguments: Any, text: str) -> str | None:
    """A number of three or more digits in the arguments that the conversation never mentions (an invented order
    number), else None."""
    if isinstance(arguments, dict):
        found = (ungrounded(v, text) for v in arguments.values())
        return next((f for f in found if f), None)
    if isinstance(arguments, list):
        return next((f for f in (ungrounded(v, text) for v in arguments) if f), None)
    for digits in _DIGITS.findall(str(arguments) if not isinstance(arguments, bool) else ""):
        if digits not in text:
            return f"{digits} does not appear in the conversation"
    return None


class ClientModel:
    """The model-side work for OpenAI-compatible requests, over a chat model and the prompt library."""

    def __init__(self, chat_model: Any, prompts: Any):
        self.chat_model = chat_model
        self.prompts = prompts

    # ------------------------------------------------------------------ client tools
    def tool_call(self, conversation: list[tuple[str, str]], tools: list[ClientTool], choice: str,
                  intent: Any = None) -> ModelAnswer:
        """A `tool_calls` answer when the last message is for one of `tools`; otherwise an answer without calls
        (the assistant answers), carrying the usage of the choice and why no call was made."""
        answer = ModelAnswer()
        message = conversation[-1][1]
        lang = language_of(message)
        try:
            tool = self._pick(message, lang, tools, choice, intent, answer)
            if tool is None:
                return answer
            arguments = self._arguments(tool, conversation, lang, answer.usage)
        except Exception as exc:  # noqa: BLE001 - a failed choice or call leaves the turn to the assistant
            answer.notes.append(f"no client tool call: {short(exc)}")
            return answer
        answer.tool_calls.append(ToolCall(tool.name, arguments))
        answer.finish_reason = "tool_calls"
        return answer

    def _pick(self, message: str, lang: str, tools: list[ClientTool], choice: str, intent: Any,
              answer: ModelAnswer) -> ClientTool | None:
        by_name = {t.name: t for t in tools}
        if choice == NONE or not tools:
            return None
        if choice in by_name:
            return by_name[choice]
        shopping = intent is not None and intent.label in SHOPPING_INTENTS and intent.probability >= SURE
        if choice == "auto" and shopping:
            answer.notes.append(f"the message reads as {intent.label}: answered by the assistant, no client tool")
            return None
        if choice == "required" and len(tools) == 1:
            return tools[0]
        names = [t.name for t in tools] + ([NONE] if choice == "auto" else [])
        schema = {"type": "object", "properties": {"tool": {"type": "string", "enum": names}}, "required": ["tool"]}
        variables = {"tools": [{"name": t.name, "description": t.description} for t in tools],
                     "allow_none": choice == "auto", "message": message}
        messages = [("system", self.prompts.render(FAMILY, "choose_system", lang)),
                    ("human", self.prompts.render(FAMILY, "choose_user", lang, **variables))]
        picked = generate_json(self.chat_model, messages, schema, retries=1, max_tokens=CHOICE_TOKENS,
                               on_reply=answer.usage.add)["tool"]
        if picked == NONE:
            answer.notes.append("the model chose no client tool for the message")
        return by_name.get(picked)

    def _arguments(self, tool: ClientTool, conversation: list[tuple[str, str]], lang: str,
                   usage: Usage) -> dict[str, Any]:
        """Arguments for `tool` from the conversation: schema-constrained, validated, numbers grounded."""
        schema = tool.parameters or {"type": "object", "properties": {}}
        if not schema.get("properties") and schema.get("type", "object") == "object":
            return {}
        turns = [{"role": role, "content": text} for role, text in conversation[-CONVERSATION_TURNS:]]
        said = " ".join(text for role, text in conversation if role == "user")
        error: str | None = None
        for _ in range(ARGUMENT_ATTEMPTS):
            variables = {"tool": {"name": tool.name, "description": tool.description}, "conversation": turns,
                         "parameters": json.dumps(schema, ensure_ascii=False), "error": error}
            messages = [("system", self.prompts.render(FAMILY, "arguments_system", lang)),
                        ("human", self.prompts.render(FAMILY, "arguments_user", lang, **variables))]
            try:
                arguments = generate_json(self.chat_model, messages, schema, retries=1, max_tokens=ARGUMENT_TOKENS,
                                          on_reply=usage.add)
            except ModelOutputError as exc:
                error = short(exc)
                continue
            error = ungrounded(arguments, said)
            if error is None:
                return arguments
        raise ModelOutputError(f"the model gave no valid arguments for {tool.name}: {error}")

    # ------------------------------------------------------------------ tool results
    def reply_from_results(self, message: str, results: list[dict[str, Any]],
                           max_tokens: int | None = None) -> ModelAnswer:
        """The reply to `message` from what the client's tools returned; templated when the model fails."""
        lang = language_of(message or " ".join(r["result"] for r in results))
        results = [{**r, "facts": facts_of(r["result"])} for r in results]
        answer = ModelAnswer()
        templated = self.prompts.render(FAMILY, "result_templated", lang, results=results)
        messages = [("system", self.prompts.render("system", "persona", lang, store_name="shopquery")),
                    ("human", self.prompts.render(FAMILY, "result_user", lang, message=message, results=results))]
        limit = min(RESULT_REPLY_TOKENS, max_tokens) if max_tokens else RESULT_REPLY_TOKENS
        try:
            reply = self.chat_model.invoke(messages, max_tokens=limit, temperature=0.2)
            answer.usage.add(reply)
            text = message_text(reply).strip()
            context = message + " " + " ".join(f"{r['arguments']} {r['result']}" for r in results)
            problem = reply_problem(text, lang, [], context=context, system=messages[0][1], message=message)
            if problem is None and not uses_results(text, results):
                problem = "the model's reply does not say what the tools returned"
        except Exception as exc:  # noqa: BLE001 - model down or broken: the templated reply says the results
            problem, reply, text = f"the model is unavailable ({short(exc)})", None, ""
        if problem is not None:
            answer.content = templated
            answer.notes.append(f"{problem}; templated reply")
            return answer
        answer.content = text
        finish = (getattr(reply, "response_metadata", None) or {}).get("finish_reason")
        answer.finish_reason = "length" if finish == "length" else "stop"
        return answer

    # ------------------------------------------------------------------ structured output
    def structured(self, conversation: list[tuple[str, str]], schema: dict[str, Any],
                   max_tokens: int | None = None) -> ModelAnswer:
        """JSON matching the client's `schema`, written from the client's messages; ModelOutputError when the
        model gives none after bounded retries."""
        answer = ModelAnswer()
        lang = language_of(" ".join(text for role, text in conversation if role == "human"))
        instruction = self.prompts.render(FAMILY, "structured_system", lang,
                                          schema=json.dumps(schema, ensure_ascii=False))
        messages = list(conversation)
        if messages and messages[0][0] == "system":
            messages[0] = ("system", f"{messages[0][1]}\n\n{instruction}")
        else:
            messages.insert(0, ("system", instruction))
        value = generate_json(self.chat_model, messages, schema, max_tokens=max_tokens or STRUCTURED_TOKENS,
                              on_reply=answer.usage.add)
        answer.content = json.dumps(value, ensure_ascii=False)
        return answer
