"""Benchmark the HTTP API against calling the assistant in-process, in the same run: p50/p95 latency of
`POST /v1/analyze` vs `Assistant.analyze` (the baseline), and of a `/v1/chat` turn (whole turn, and first token over
server-sent events) vs `Agent.respond` in-process, with the embedded model. Requests alternate between the server
and the in-process call, so both see the same machine load.

    .venv/bin/python eval/bench_api.py [--queries 60] [--turns 6] [--url http://127.0.0.1:8080 --api-key KEY] [--json]

Without --url a server (`shopquery serve`) is started on a free loopback port over the configured data dir (the
demo catalog is loaded if the store is empty) and stopped at the end."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from assistant.agent import Agent
from assistant.app import Assistant
from assistant.settings import load_settings

QUERIES = Path(__file__).resolve().parent / "data" / "retrieval_test.jsonl"
MESSAGES = ["我想买件T恤", "wireless mouse", "推荐一款蓝牙耳机", "HP toner cartridge", "2000元以内的手机",
            "computer monitor under $300"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=60, help="fast-path queries (from eval/data/retrieval_test.jsonl)")
    p.add_argument("--turns", type=int, default=6, help="chat turns per configuration")
    p.add_argument("--url", default=None, help="a running server (default: start one)")
    p.add_argument("--api-key", default=None, help="API key for --url")
    p.add_argument("--start-timeout", type=float, default=900.0, help="seconds to wait for /readyz")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def stats(values: list[float]) -> dict[str, float | int | None]:
    """Count, median and 95th percentile (nearest rank) in milliseconds."""
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def load_queries(n: int) -> list[str]:
    """The first `n` queries of the retrieval test set."""
    with QUERIES.open(encoding="utf-8") as fh:
        return [json.loads(line)["query"] for line in fh][:n]


def start_server() -> tuple[subprocess.Popen, str, Path]:
    """`shopquery serve` on a free loopback port (rate limit off); returns the process, its URL and its log."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="shopquery-bench-")) / "server.log"
    env = os.environ | {"SHOPQUERY_API_RATE_LIMIT": "0"}
    cmd = [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, f"http://127.0.0.1:{port}", log


def wait_ready(http: httpx.Client, timeout_s: float, proc: subprocess.Popen | None) -> dict[str, Any]:
    """Poll /readyz until the catalog is loaded and the model checked."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            r = http.get("/readyz")
            if r.status_code == 200 and r.json()["model"]["status"] != "unknown":
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready within {timeout_s:g} s")


def analyze_over_http(http: httpx.Client, query: str) -> float:
    """One fast-path request; the milliseconds its stages took in the server. Raises on a non-200 answer."""
    r = http.post("/v1/analyze", json={"query": query, "k": 10})
    r.raise_for_status()
    return sum(t["ms"] for t in r.json()["timings"])


def chat_stream(http: httpx.Client, message: str) -> tuple[float, float, dict[str, Any]]:
    """One streamed chat turn: milliseconds to the first token event, to the final turn event, and the turn."""
    start = time.perf_counter()
    first = None
    event = None
    turn: dict[str, Any] = {}
    with http.stream("POST", "/v1/chat", json={"message": message, "stream": True}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                if event == "token" and first is None:
                    first = (time.perf_counter() - start) * 1000
            elif line.startswith("data: ") and event == "turn":
                turn = json.loads(line[6:])
    return first or 0.0, (time.perf_counter() - start) * 1000, turn


def bench_analyze(http: httpx.Client, assistant: Assistant, queries: list[str]) -> dict[str, Any]:
    """Alternate HTTP and in-process fast-path calls over the same queries."""
    for q in queries[:3]:  # warm both sides
        analyze_over_http(http, q)
        assistant.analyze(q, k=10)
    served, local, server_stages, local_stages = [], [], [], []
    for q in queries:
        start = time.perf_counter()
        server_stages.append(analyze_over_http(http, q))
        served.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        local_stages.append(assistant.analyze(q, k=10).total_ms)
        local.append((time.perf_counter() - start) * 1000)
    overhead = [s - st for s, st in zip(served, server_stages, strict=True)]
    return {"http": stats(served), "in_process": stats(local), "http_stages": stats(server_stages),
            "in_process_stages": stats(local_stages), "http_minus_stages": stats(overhead)}


def bench_chat(http: httpx.Client, agent: Agent, turns: int) -> dict[str, Any]:
    """Alternate streamed /v1/chat turns and in-process agent turns (new session each), with the model."""
    messages = [MESSAGES[i % len(MESSAGES)] for i in range(turns)]
    chat_stream(http, "hello")  # one untimed turn on each side: the first model call of a process is cold
    agent.respond("hello")
    first_http, whole_http, first_local, whole_local = [], [], [], []
    fallbacks = {"http": 0, "in_process": 0}
    for message in messages:
        first, whole, turn = chat_stream(http, message)
        first_http.append(first)
        whole_http.append(whole)
        fallbacks["http"] += turn.get("fallback") is not None
        start = time.perf_counter()
        local = agent.respond(message)
        whole_local.append((time.perf_counter() - start) * 1000)
        first_local.append(local.first_token_ms or 0.0)
        fallbacks["in_process"] += local.fallback is not None
    return {"http": {"first_token": stats(first_http), "turn": stats(whole_http)},
            "in_process": {"first_token": stats(first_local), "turn": stats(whole_local)},
            "fallbacks": fallbacks}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start (or reach) the server, warm the in-process assistant, and measure both."""
    proc, log = None, None
    url = args.url
    if url is None:
        proc, url, log = start_server()
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        assistant = Assistant(load_settings())
        assistant.ensure_catalog()
        assistant.warm_up()
        assistant.chat_model.ensure_ready()
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            ready = wait_ready(http, args.start_timeout, proc)
            result = {"products": ready["products"], "model": ready["model"],
                      "analyze_ms": bench_analyze(http, assistant, load_queries(args.queries))}
            if args.turns:
                result["chat_ms"] = bench_chat(http, Agent(assistant), args.turns)
        return result
    except Exception:
        if log is not None and log.is_file():
            print(log.read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"catalog {result['products']} products; model {result['model']['backend']} ({result['model']['status']})")
    print(f"{'measurement':<44} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}")
    rows = [(f"analyze: {k}", v) for k, v in result["analyze_ms"].items()]
    chat = result.get("chat_ms")
    if chat:
        for side in ("http", "in_process"):
            rows += [(f"chat {side}: {k}", v) for k, v in chat[side].items()]
    for name, row in rows:
        print(f"{name:<44} {row['n']:>4} {row['p50'] if row['p50'] is not None else '-':>9} "
              f"{row['p95'] if row['p95'] is not None else '-':>9}")
    if chat:
        print(f"fallbacks: {chat['fallbacks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
