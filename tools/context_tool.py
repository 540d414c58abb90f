"""A LangChain tool that a program can also call with context the model never sees (the conversation's full
filters, the search results to re-rank): the model-facing schema stays the tool's input model, and a call that
carries context takes its arguments as the calling program checked them."""

from __future__ import annotations

import functools
from typing import Any

from langchain_core.tools import StructuredTool


class ContextTool(StructuredTool):
    """A StructuredTool whose function also takes `context_args`: left out of the schema the model sees, passed
    through when a caller gives them."""

    context_args: frozenset[str] = frozenset()

    @functools.cached_property
    def _injected_args_keys(self) -> frozenset[str]:
        return self.context_args

    def _parse_input(self, tool_input: str | dict[str, Any], tool_call_id: str | None) -> str | dict[str, Any]:
        """Model-written arguments are validated by the input model; a program's call with context is taken as
        given (its values are typed objects the model could not write)."""
        if isinstance(tool_input, dict) and self.context_args.intersection(tool_input):
            return dict(tool_input)
        return super()._parse_input(tool_input, tool_call_id)
