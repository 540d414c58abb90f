"""Shared fixtures: a network guard, a deterministic hashing embedder for unit tests, small catalogs, the scripted
and the real chat model (the fakes themselves are in fakes.py)."""

from __future__ import annotations

import os
import socket

import pytest
from fakes import HashEmbedder, ScriptedChatModel

from tools.core.types import Product

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
