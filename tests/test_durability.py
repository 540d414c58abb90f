"""Durability of shopper events: every event the API acknowledged (201 with its id) is in the database after the
server process is killed with SIGKILL in the middle of a stream of writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servers import free_port
from sqlalchemy import text

from tools.history import HistoryStore

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import sys, uvicorn
from assistant.api import create_app
from assistant.settings import Settings
uvicorn.run(create_app(Settings(data_dir=sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""


def test_sqlite_history_runs_wal_with_full_sync(tmp_path):
    store = HistoryStore(data_dir=tmp_path)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL: the WAL is fsynced at every commit


def _writer(url: str, worker: int, acked: dict[int, str], stop: threading.Event, errors: list[str]) -> None:
    """Post events (single ones and batches of 5) until the server dies; remember every acknowledged id."""
    n = 0
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            batch = [{"user_id": f"w{worker}", "type": "search", "query": f"q{worker}-{n + i}"} for i in range(5)]
            body = batch if n % 2 else batch[0]
            try:
                r = http.post("/v1/events", json=body)
            except httpx.TransportError:
                return  # the server is gone: whatever was not acknowledged may or may not be stored
            if r.status_code != 201:
                errors.append(f"{r.status_code} {r.text[:200]}")
                continue
            sent = batch if isinstance(body, list) else [body]
            for event_id, event in zip(r.json()["ids"], sent, strict=True):
                acked[event_id] = event["query"]
            n += len(sent)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_acknowledged_events_survive_kill_9(tmp_path):
    port = free_port()
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "SHOPQUERY_API_RATE_LIMIT": "0"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path), str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
        acked: dict[int, str] = {}
        errors: list[str] = []
        stop = threading.Event()
        writers = [threading.Thread(target=_writer, args=(url, w, acked, stop, errors)) for w in range(4)]
        for t in writers:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)  # mid-load: the writers still have requests in flight
        server.wait(10)
        stop.set()
        for t in writers:
            t.join(15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert not errors, errors[:3]
    assert len(acked) >= 100, f"only {len(acked)} events were acknowledged before the kill"
    store = HistoryStore(data_dir=tmp_path)
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, query FROM events")).all())
    lost = {i: q for i, q in acked.items() if rows.get(i) != q}
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged events were lost: {list(lost.items())[:5]}"
    print(f"kill -9 mid-load: {len(acked)} acknowledged, {len(rows)} stored, 0 lost")
