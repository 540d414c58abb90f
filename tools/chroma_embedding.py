"""The bridge between our embedders and chromadb: an embedding function that wraps an Embedder and is registered
under a name, so a persisted collection can be reopened with the same backend (chromadb's own default would try
to download a model)."""

from __future__ import annotations

from typing import Any

from tools.core.models import Embedder

_EF_CLASS: Any = None


def embedding_function_for(embedder: Embedder) -> Any:
    """A chromadb embedding function around an Embedder, registered so a persisted collection can be reopened
    (its config names the embedder backend; chromadb's own default would try to download a model)."""
    global _EF_CLASS
    if _EF_CLASS is None:
        _EF_CLASS = _define_ef_class()
    return _EF_CLASS(embedder)


def _define_ef_class() -> Any:
    from chromadb.api.types import EmbeddingFunction, Space
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class ShopqueryEmbeddingFunction(EmbeddingFunction):
        """Passages through `__call__`, queries through `embed_query`, by the wrapped Embedder."""

        def __init__(self, embedder: Embedder):
            self.embedder = embedder

        def __call__(self, input: list[str]) -> Any:  # noqa: A002 - chromadb's parameter name
            return list(self.embedder.embed_passages(list(input)))

        def embed_query(self, input: list[str]) -> Any:  # noqa: A002
            return list(self.embedder.embed_queries(list(input)))

        @staticmethod
        def name() -> str:
            return "shopquery-embedder"

        def get_config(self) -> dict[str, Any]:
            return {"backend": self.embedder.name}

        def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
            if new_config.get("backend", old_config.get("backend")) != old_config.get("backend"):
                raise ValueError("the embedding backend of an existing collection cannot be changed; "
                                 "ingest into a new SHOPQUERY_COLLECTION or data dir instead")

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> ShopqueryEmbeddingFunction:
            from tools.embeddings import get_embedder

            return ShopqueryEmbeddingFunction(get_embedder(config["backend"]))

        def is_legacy(self) -> bool:
            return False

        def default_space(self) -> Space:
            return "cosine"

        def supported_spaces(self) -> list[Space]:
            return ["cosine", "ip", "l2"]

    return ShopqueryEmbeddingFunction
