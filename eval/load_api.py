"""Load test of the HTTP API: many concurrent clients on `POST /v1/analyze`, then fewer on `POST /v1/chat` (the
embedded model), each phase bounded by a request count and a duration. Prints, per phase: requests, errors by
status, p50/p95/p99 latency of the answered requests, throughput, and the quick refusals (429/503) with their
latency, which show whether excess work is turned away at once rather than piling up.

    .venv/bin/python eval/load_api.py [--analyze-clients 50 --analyze-seconds 60 --analyze-max 20000]
        [--chat-clients 10 --chat-turns 2] [--url http://127.0.0.1:8080 --api-key KEY] [--json]

Without --url a server (`shopquery serve`, rate limit off) is started on a free loopback port over the configured
data dir and stopped at the end. Only loopback targets are accepted unless --allow-remote is given."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import httpx

from assistant.api_security import is_loopback
from eval.bench_api import MESSAGES, load_queries, start_server, wait_ready

MAX_CLIENTS = 500
MAX_SECONDS = 900.0
MAX_REQUESTS = 200_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every bound is capped: MAX_CLIENTS, MAX_SECONDS, MAX_REQUESTS)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--analyze-clients", type=int, default=50)
    p.add_argument("--analyze-seconds", type=float, default=60.0, help="duration of the analyze phase")
    p.add_argument("--analyze-max", type=int, default=20_000, help="at most this many analyze requests")
    p.add_argument("--chat-clients", type=int, default=10)
    p.add_argument("--chat-turns", type=int, default=2, help="turns per chat client")
    p.add_argument("--chat-seconds", type=float, default=300.0, help="duration cap of the chat phase")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request client timeout (s)")
    p.add_argument("--url", default=None, help="a running server (default: start one)")
    p.add_argument("--api-key", default=None, help="API key for --url")
    p.add_argument("--allow-remote", action="store_true", help="accept a non-loopback --url")
    p.add_argument("--start-timeout", type=float, default=900.0, help="seconds to wait for /readyz")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for name, cap in (("analyze_clients", MAX_CLIENTS), ("chat_clients", MAX_CLIENTS),
                      ("analyze_max", MAX_REQUESTS)):
        if not 0 <= getattr(args, name) <= cap:
            p.error(f"--{name.replace('_', '-')} must be between 0 and {cap}")
    if not 0 < args.analyze_seconds <= MAX_SECONDS or not 0 < args.chat_seconds <= MAX_SECONDS:
        p.error(f"phase durations must be between 0 and {MAX_SECONDS:g} s")
    if args.url and not args.allow_remote and not is_loopback(urlparse(args.url).hostname or ""):
        p.error(f"{args.url} is not a loopback address; pass --allow-remote to load-test another machine")
    return args


class Phase:
    """What one phase observed: (status, seconds) per request, transport errors, wall time."""

    def __init__(self, name: str, clients: int):
        self.name = name
        self.clients = clients
        self.results: list[tuple[int, float]] = []
        self.transport_errors: Counter[str] = Counter()
        self.started = time.perf_counter()
        self.wall_s = 0.0

    def record(self, status: int, seconds: float) -> None:
        """One answered request."""
        self.results.append((status, seconds))

    def summary(self) -> dict[str, Any]:
        """The table row of this phase."""
        ok = [s for code, s in self.results if 200 <= code < 300]
        quick = [s for code, s in self.results if code in (429, 503)]
        statuses = Counter(str(code) for code, _ in self.results)
        total = len(self.results) + sum(self.transport_errors.values())
        return {"phase": self.name, "clients": self.clients, "requests": total, "ok": len(ok),
                "errors_by_status": {k: v for k, v in sorted(statuses.items()) if not k.startswith("2")},
                "transport_errors": dict(self.transport_errors), "latency_ms": percentiles(ok),
                "throughput_rps": round(len(ok) / self.wall_s, 2) if self.wall_s else None,
                "refused_429_503": len(quick), "refused_latency_ms": percentiles(quick),
                "wall_s": round(self.wall_s, 1)}


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 (nearest rank) in milliseconds."""
    if not seconds:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)

    return {"p50": round(statistics.median(ordered) * 1000, 1), "p95": rank(0.95), "p99": rank(0.99)}


async def _timed_post(http: httpx.AsyncClient, phase: Phase, path: str, body: dict[str, Any]) -> None:
    started = time.perf_counter()
    try:
        r = await http.post(path, json=body)
    except httpx.HTTPError as exc:
        phase.transport_errors[type(exc).__name__] += 1
        return
    phase.record(r.status_code, time.perf_counter() - started)


async def analyze_phase(http: httpx.AsyncClient, args: argparse.Namespace) -> Phase:
    """`--analyze-clients` clients posting queries until the duration or the request budget runs out."""
    phase = Phase("analyze", args.analyze_clients)
    queries = load_queries(500)
    deadline = time.perf_counter() + args.analyze_seconds
    budget = iter(range(args.analyze_max))

    async def client(offset: int) -> None:
        for n in budget:
            if time.perf_counter() > deadline:
                return
            await _timed_post(http, phase, "/v1/analyze", {"query": queries[(offset + n) % len(queries)]})

    await asyncio.gather(*(client(i * 7) for i in range(args.analyze_clients)))
    phase.wall_s = time.perf_counter() - phase.started
    return phase


async def chat_phase(http: httpx.AsyncClient, args: argparse.Namespace) -> Phase:
    """`--chat-clients` conversations of `--chat-turns` turns each, all at once (a refused turn is not retried)."""
    phase = Phase("chat", args.chat_clients)
    deadline = time.perf_counter() + args.chat_seconds

    async def client(i: int) -> None:
        session = f"load-{i}-{int(time.time())}"
        for turn in range(args.chat_turns):
            if time.perf_counter() > deadline:
                return
            message = MESSAGES[(i + turn) % len(MESSAGES)] if turn == 0 else "cheaper please"
            await _timed_post(http, phase, "/v1/chat", {"message": message, "session_id": session})

    await asyncio.gather(*(client(i) for i in range(args.chat_clients)))
    phase.wall_s = time.perf_counter() - phase.started
    return phase


def print_table(rows: list[dict[str, Any]]) -> None:
    """The summary as a fixed-width table."""
    head = (f"{'phase':8} {'clients':>7} {'requests':>8} {'ok':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'ok/s':>7} {'429/503':>7} {'refused p50/p95 ms':>18}  errors by status")
    print(head)
    print("-" * len(head))
    for r in rows:
        lat, ref = r["latency_ms"], r["refused_latency_ms"]
        errors = ", ".join(f"{k}: {v}" for k, v in {**r["errors_by_status"], **r["transport_errors"]}.items())
        print(f"{r['phase']:8} {r['clients']:>7} {r['requests']:>8} {r['ok']:>6} {_ms(lat['p50']):>8} "
              f"{_ms(lat['p95']):>8} {_ms(lat['p99']):>8} {r['throughput_rps'] or 0:>7} {r['refused_429_503']:>7} "
              f"{_ms(ref['p50']) + ' / ' + _ms(ref['p95']):>18}  {errors or '-'}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


async def run(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both phases against `url`, one after the other."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=MAX_CLIENTS, max_keepalive_connections=MAX_CLIENTS)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=args.timeout, limits=limits) as http:
        rows = []
        if args.analyze_clients:
            rows.append((await analyze_phase(http, args)).summary())
        if args.chat_clients and args.chat_turns:
            rows.append((await chat_phase(http, args)).summary())
        return rows


def main(argv: list[str] | None = None) -> int:
    """Start (or target) a server, run the phases, print the table."""
    args = parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        proc, url, log = start_server()
        print(f"server log: {log}", file=sys.stderr)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            ready = wait_ready(http, args.start_timeout, proc)
        rows = asyncio.run(run(url, args))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    if args.json:
        print(json.dumps({"url": url, "ready": ready, "phases": rows}, ensure_ascii=False))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
