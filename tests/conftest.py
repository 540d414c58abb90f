"""Shared fixtures: a network guard, a deterministic hashing embedder for unit tests, small catalogs."""

from __future__ import annotations

import hashlib
import os
import socket

import numpy as np
import pytest

from tools.core.types import Product
from tools.text import tokenize

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
        raise RuntimeError(f"tests must not reach the network (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail any connection that leaves the machine; loopback servers started by tests are allowed."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


class HashEmbedder:
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

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return self._embed(texts)


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


SMALL_CATALOG = [
    Product(id="1", title="Logitech M185 wireless mouse", brand="Logitech", category="Mice", price=19.99,
            currency="USD", color="grey"),
    Product(id="2", title="HP 301 black ink cartridge", brand="HP", category="Ink cartridges", price=24.5,
            currency="USD", color="black"),
    Product(id="3", title="HP Pavilion 15 notebook silver", brand="HP", category="Notebooks", price=599.0,
            currency="USD", color="silver"),
    Product(id="4", title="夏季纯棉蓝色T恤 男 短袖", brand="优衣库", category="T恤", price=79.0, currency="CNY",
            color="blue"),
    Product(id="5", title="红色连衣裙 女 雪纺", brand="ONLY", category="连衣裙", price=299.0, currency="CNY",
            color="red"),
    Product(id="6", title="苹果 iPhone 15 手机壳 透明", brand="苹果", category="手机壳", price=49.0, currency="CNY"),
    Product(id="7", title="华为 Mate 60 手机", brand="华为", category="手机", price=5999.0, currency="CNY",
            color="black"),
    Product(id="8", title="Dell wireless keyboard and mouse combo", brand="Dell", category="Keyboards",
            price=39.0, currency="USD", color="black"),
]


@pytest.fixture
def small_catalog() -> list[Product]:
    return [p.model_copy() for p in SMALL_CATALOG]


class ScriptedChatModel:
    """A fake chat model: replies come from a queue (an Exception in the queue is raised); calls are recorded."""

    def __init__(self, replies=None):
        self.replies = list(replies or [])
        self.calls: list[dict] = []

    def enqueue(self, *replies) -> None:
        self.replies.extend(replies)

    def _next(self, messages, kwargs):
        self.calls.append({"messages": messages, **kwargs})
        if not self.replies:
            raise AssertionError("the scripted model was called more often than scripted")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def stream(self, messages, **kwargs):
        from langchain_core.messages import AIMessageChunk

        reply = self._next(messages, kwargs)
        for i in range(0, len(reply), 4):
            yield AIMessageChunk(content=reply[i:i + 4])

    def invoke(self, messages, **kwargs):
        from langchain_core.messages import AIMessage

        reply = self._next(messages, kwargs)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply)

    def generate_json(self, messages, schema, **kwargs):
        """JSON through the real validate-and-retry loop, over the scripted replies."""
        from assistant.llm_base import generate_json

        return generate_json(self, messages, schema, **kwargs)

    def bind_tools(self, tools, tool_choice=None, **kwargs):
        """Like a real chat model: later invokes carry the tools; a scripted AIMessage can hold tool calls."""
        return _BoundScripted(self, {"tools": list(tools), "tool_choice": tool_choice, **kwargs})


class _BoundScripted:
    def __init__(self, model, bound):
        self.model, self.bound = model, bound

    def invoke(self, messages, **kwargs):
        return self.model.invoke(messages, **self.bound, **kwargs)


class UsageModel(ScriptedChatModel):
    """Streams like a real backend: the scripted text in chunks, then one chunk with the call's token usage
    (120 prompt, 9 completion) and its finish reason."""

    def __init__(self, reply: str, finish: str = "stop"):
        super().__init__([reply])
        self.finish = finish

    def stream(self, messages, **kwargs):
        from langchain_core.messages import AIMessageChunk

        yield from super().stream(messages, **kwargs)
        yield AIMessageChunk(content="", usage_metadata={"input_tokens": 120, "output_tokens": 9, "total_tokens": 129},
                             response_metadata={"finish_reason": self.finish})


def tool_call_message(name: str, args: dict):
    """An AIMessage carrying one tool call, as a chat model returns it."""
    from langchain_core.messages import AIMessage

    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call_1", "type": "tool_call"}])


@pytest.fixture
def scripted_model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture(scope="session")
def embedded_chat_model_05b(tmp_path_factory):
    """The real bundled Qwen2.5-Coder-0.5B on llama.cpp, assembled once per session into a temp data dir."""
    from assistant.llm import build_chat_model
    from assistant.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("llm-data"), llm_context=2048)
    model = build_chat_model(settings, progress=False)
    model.ensure_ready()
    return model


def keyword_intent(rules: list[tuple[str, str]]):
    """A deterministic stand-in for the intent classifier: the label of the first keyword found in the text
    (lowercased), else product_search."""
    from tools.intent import IntentPrediction

    class KeywordIntent:
        RULES = rules

        def predict(self, text):
            label = next((lab for key, lab in self.RULES if key in text.lower()), "product_search")
            return IntentPrediction(label=label, probability=0.9, top3=[(label, 0.9)], low_confidence=False)

    return KeywordIntent()


def unit_assistant(tmp_path, embedder, intent, products: list[Product]):
    """An Assistant for agent unit tests: the hashing embedder, an on-disk store holding `products`, a scripted
    intent classifier and no spell correction."""
    from assistant.app import Assistant
    from assistant.settings import Settings
    from tools.catalog_store import CatalogStore

    assistant = Assistant(Settings(data_dir=tmp_path, correct_spelling=False, expansion_log_size=300))
    assistant.__dict__["embedder"] = embedder
    assistant.__dict__["store"] = CatalogStore(tmp_path / "catalog", embedder)
    assistant.__dict__["intent_classifier"] = intent
    assistant.store.upsert([p.model_copy() for p in products])
    return assistant
