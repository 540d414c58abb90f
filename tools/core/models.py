"""The model interfaces the tools are written against: a sentence embedder and a chat model that can answer with
JSON matching a schema. The implementations live above (tools/embeddings.py; assistant/llm*.py) and are passed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel


class Embedder(Protocol):
    """A sentence embedder: (n, dim) float32 rows, L2-normalised."""

    name: str
    dim: int

    def embed_queries(self, texts: list[str], int8: bool = False) -> np.ndarray:
        """Vectors for search queries ("query: " prefix); `int8` asks for the faster int8 encoder where there is
        one."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors for catalog passages ("passage: " prefix)."""
        ...


@runtime_checkable
class JsonModel(Protocol):
    """A chat model that answers with a JSON object matching a schema (constrained, validated, retried), raising
    ModelOutputError when it cannot. Every shopquery chat model is one (assistant/llm.py: JsonChatModel)."""

    def generate_json(self, messages: Any, schema: dict[str, Any] | type[BaseModel], *, retries: int = ...,
                      max_tokens: int | None = None,
                      on_reply: Callable[[Any], None] | None = None) -> dict[str, Any]:
        """The reply as a JSON object that matches `schema`."""
        ...
