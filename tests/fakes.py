"""The test fakes, each a subclass or implementation of the real interface it stands in for: a hashing embedder, a
scripted chat model, rule-based intent classifiers and a small Assistant built from them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

from assistant.app import Assistant
from assistant.llm_base import JsonChatModel
from assistant.settings import Settings
from tools.catalog_store import CatalogStore
from tools.core.models import Embedder
from tools.core.types import Product
from tools.intent import IntentClassifier, IntentPrediction
from tools.text import tokenize


class HashEmbedder(Embedder):
    """Bag-of-tokens vectors by hashing: similar wording gives similar vectors. Counts its calls."""

    name = "test-hash"
    dim = 64

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["_"]:
                out[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)

    def embed_queries(self, texts: list[str], int8: bool = False) -> np.ndarray:
        """Hashed vectors for queries."""
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Hashed vectors for passages (counted)."""
        self.passages_embedded += len(texts)
        return self._embed(texts)


class ScriptedChatModel(JsonChatModel):
    """A fake chat model: replies come from a queue (an Exception in the queue is raised); calls are recorded.
    `generate_json`, `ensure_ready` and `keep_prefix` are the real ones of JsonChatModel."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="allow")  # subclasses keep their own state

    replies: list[Any] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)

    def __init__(self, replies: Iterable[Any] | None = None, **fields: Any) -> None:
        super().__init__(replies=list(replies or []), **fields)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def enqueue(self, *replies: Any) -> None:
        """Add replies to the end of the script."""
        self.replies.extend(replies)

    def _next(self, messages: Any, kwargs: dict[str, Any]) -> Any:
        self.calls.append({"messages": messages, **kwargs})
        if not self.replies:
            raise AssertionError("the scripted model was called more often than scripted")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def stream(self, messages: Any, **kwargs: Any) -> Iterator[AIMessageChunk]:  # type: ignore[override]
        """The next scripted reply in 4-character chunks."""
        reply = self._next(messages, kwargs)
        for i in range(0, len(reply), 4):
            yield AIMessageChunk(content=reply[i:i + 4])

    def invoke(self, messages: Any, **kwargs: Any) -> AIMessage:  # type: ignore[override]
        """The next scripted reply as a message (a scripted AIMessage as it is)."""
        reply = self._next(messages, kwargs)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.invoke(messages, **kwargs))])

    def bind_tools(self, tools: Sequence[Any], tool_choice: Any = None,  # type: ignore[override]
                   **kwargs: Any) -> BoundScripted:
        """Like a real chat model: later invokes carry the tools; a scripted AIMessage can hold tool calls."""
        return BoundScripted(self, {"tools": list(tools), "tool_choice": tool_choice, **kwargs})


class BoundScripted:
    """A scripted model with tools bound: every invoke carries them."""

    def __init__(self, model: ScriptedChatModel, bound: dict[str, Any]) -> None:
        self.model, self.bound = model, bound

    def invoke(self, messages: Any, **kwargs: Any) -> AIMessage:
        """The model's next reply, the bound arguments sent along."""
        return self.model.invoke(messages, **self.bound, **kwargs)


class UsageModel(ScriptedChatModel):
    """Streams like a real backend: the scripted text in chunks, then one chunk with the call's token usage
    (120 prompt, 9 completion) and its finish reason."""

    finish: str = "stop"

    def __init__(self, reply: str, finish: str = "stop") -> None:
        super().__init__([reply], finish=finish)

    def stream(self, messages: Any, **kwargs: Any) -> Iterator[AIMessageChunk]:  # type: ignore[override]
        """The scripted chunks, then the usage chunk."""
        yield from super().stream(messages, **kwargs)
        yield AIMessageChunk(content="", usage_metadata={"input_tokens": 120, "output_tokens": 9, "total_tokens": 129},
                             response_metadata={"finish_reason": self.finish})


def tool_call_message(name: str, args: dict[str, Any]) -> AIMessage:
    """An AIMessage carrying one tool call, as a chat model returns it."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call_1", "type": "tool_call"}])


# the intents of the agent tests' shoppers: service requests by keyword, everything else a product search
SERVICE_KEYWORDS = [("订单", "order_status"), ("order", "order_status"), ("退货", "return_refund"),
                    ("refund", "return_refund"), ("你好", "chitchat"), ("hello", "chitchat"), ("哪个好", "compare"),
                    ("compare", "compare"), ("tell me about", "product_qa"), ("是什么", "product_qa")]


class RuleIntent(IntentClassifier):
    """An intent classifier without a network: `predict` answers from a rule (subclasses say which)."""

    def __init__(self) -> None:  # no checkpoint: nothing of the real classifier's state is needed
        pass

    def predict(self, text: str) -> IntentPrediction:
        """The rule's intent for one query."""
        raise NotImplementedError

    def predict_batch(self, texts: list[str]) -> list[IntentPrediction]:
        """The rule's intents, in order."""
        return [self.predict(text) for text in texts]


class KeywordIntent(RuleIntent):
    """The label of the first keyword found in the text (lowercased), else product_search."""

    def __init__(self, rules: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.rules = SERVICE_KEYWORDS if rules is None else rules

    def predict(self, text: str) -> IntentPrediction:
        """The first matching keyword's label, probability 0.9."""
        label = next((lab for key, lab in self.rules if key in text.lower()), "product_search")
        return IntentPrediction(label=label, probability=0.9, top3=[(label, 0.9)], low_confidence=False)


class FixedIntent(RuleIntent):
    """Always one label with one probability (unsure below 0.5)."""

    def __init__(self, label: str = "product_search", probability: float = 0.9) -> None:
        super().__init__()
        self.label, self.probability = label, probability

    def predict(self, text: str) -> IntentPrediction:
        """The fixed label."""
        return IntentPrediction(label=self.label, probability=self.probability, top3=[(self.label, self.probability)],
                                low_confidence=self.probability < 0.5)


def unit_assistant(tmp_path: Path, embedder: Embedder, intent: IntentClassifier,
                   products: list[Product]) -> Assistant:
    """An Assistant for agent unit tests: the hashing embedder, an on-disk store holding `products`, a scripted
    intent classifier and no spell correction."""
    assistant = Assistant(Settings(data_dir=tmp_path, correct_spelling=False, expansion_log_size=300),
                          embedder=embedder, store=CatalogStore(tmp_path / "catalog", embedder),
                          intent_classifier=intent)
    assistant.store.upsert([p.model_copy() for p in products])
    return assistant
