"""The one place where the assistant's tools are registered: each is a typed function with a derived schema, bound
here to the resources of one Assistant (store, corrector, parser, classifier, history)."""

from __future__ import annotations

from typing import Any

from tools.attributes import make_attributes_tool
from tools.catalog_search import make_search_tool
from tools.expansion import make_expand_tool
from tools.intent import make_intent_tool
from tools.products import make_product_tools
from tools.recommend import make_history_tool, make_recommend_tool
from tools.spelling import make_spelling_tool

TOOL_NAMES = ("correct_spelling", "parse_attributes", "classify_intent", "search_catalog", "recommend_products",
              "lookup_user_history", "get_product", "compare_products", "expand_query")


def build_tools(assistant: Any) -> dict[str, Any]:
    """Tool name -> LangChain StructuredTool, bound to the assistant's resources (loaded lazily by the assistant)."""
    tools = [
        make_spelling_tool(assistant.corrector),
        make_attributes_tool(assistant.attribute_parser),
        make_intent_tool(assistant.intent_classifier),
        make_search_tool(assistant.store),
        make_recommend_tool(assistant.store, assistant.history, assistant.item_model),
        make_history_tool(assistant.history, assistant.store),
        *make_product_tools(assistant.store),
        make_expand_tool(assistant.expander),
    ]
    return {tool.name: tool for tool in tools}
