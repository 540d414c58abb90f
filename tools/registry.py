"""The one place where the assistant's tools are registered: each is a typed function with a schema derived from
its pydantic input model, bound here to the resources of one Assistant (store, corrector, parser, classifier,
history). The agent runs its tools through this registry and shows the model the schemas it gives, so what a
chat model sees, what LangChain callbacks see and what another LangChain agent gets are the same tools."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from tools.attributes import make_attributes_tool
from tools.catalog_search import make_search_tool
from tools.core.errors import ShopqueryError
from tools.expansion import make_expand_tool
from tools.intent import make_intent_tool
from tools.products import make_product_tools
from tools.recommend import make_history_tool, make_recommend_tool
from tools.spelling import make_spelling_tool

TOOL_NAMES = ("correct_spelling", "parse_attributes", "classify_intent", "search_catalog", "recommend_products",
              "lookup_user_history", "get_product", "compare_products", "expand_query")

# tool name -> the assistant resources it is bound to, and how it is made from them
_MAKERS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    "correct_spelling": (("corrector",), make_spelling_tool),
    "parse_attributes": (("attribute_parser",), make_attributes_tool),
    "classify_intent": (("intent_classifier",), make_intent_tool),
    "search_catalog": (("store", "ranking"), make_search_tool),
    "recommend_products": (("store", "history", "item_model"), make_recommend_tool),
    "lookup_user_history": (("history", "store"), make_history_tool),
    "get_product": (("store",), lambda store: make_product_tools(store)[0]),
    "compare_products": (("store",), lambda store: make_product_tools(store)[1]),
    "expand_query": (("expander",), make_expand_tool),
}

# resources a tool works without (None when the assistant has none): the ranking model (reciprocal rank fusion then)
_OPTIONAL = frozenset({"ranking"})


class ToolFailed(ShopqueryError):
    """A tool reported a failure as its result (what a model would be shown); the message is that result."""


class ToolRegistry:
    """Every tool of one Assistant as a LangChain tool. A tool is made when first asked for, from the resources
    the assistant holds at that moment, and made again when the assistant holds new ones (a re-ingested
    catalog rebuilds the parser, the corrector and the expander)."""

    def __init__(self, assistant: Any):
        self.assistant = assistant
        self._made: dict[str, tuple[tuple[Any, ...], BaseTool]] = {}

    def tool(self, name: str) -> BaseTool:
        """The tool called `name`, bound to the assistant's current resources."""
        if name not in _MAKERS:
            raise KeyError(f"no tool named {name!r}; the tools are {', '.join(TOOL_NAMES)}")
        needs, make = _MAKERS[name]
        resources = tuple(getattr(self.assistant, need, None) if need in _OPTIONAL else getattr(self.assistant, need)
                          for need in needs)
        made = self._made.get(name)
        if made is None or any(a is not b for a, b in zip(made[0], resources, strict=True)):
            made = self._made[name] = (resources, make(*resources))
        return made[1]

    def tools(self, names: Sequence[str] = TOOL_NAMES) -> list[BaseTool]:
        """The named tools (all by default), in that order."""
        return [self.tool(name) for name in names]

    def schemas(self, names: Sequence[str] = TOOL_NAMES) -> list[dict[str, Any]]:
        """The named tools in OpenAI tool format: what a chat model is shown."""
        return [convert_to_openai_tool(tool) for tool in self.tools(names)]

    def run(self, name: str, args: dict[str, Any], config: RunnableConfig | None = None,
            call_id: str | None = None) -> ToolMessage:
        """Run one tool call as LangChain runs it (callbacks in `config` see it start and end); the tool's
        message, whose `artifact` is the typed result where the tool gives one."""
        call = {"type": "tool_call", "name": name, "args": args, "id": call_id or f"call_{uuid.uuid4().hex[:24]}"}
        return self.tool(name).invoke(call, config)

    def call(self, name: str, args: dict[str, Any], config: RunnableConfig | None = None) -> Any:
        """Run a tool for a program: its typed result; ToolFailed when the tool reports a failure instead."""
        message = self.run(name, args, config)
        if message.status == "error":
            raise ToolFailed(str(message.content))
        return message.artifact


def build_tools(assistant: Any) -> dict[str, BaseTool]:
    """Tool name -> LangChain tool, bound to the assistant's resources (loaded lazily by the assistant)."""
    return {tool.name: tool for tool in ToolRegistry(assistant).tools()}
