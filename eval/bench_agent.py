"""Benchmark a conversation turn: time to the first streamed token and the whole turn, with the embedded model,
against the fast path (no model) in the same run; peak memory (RSS) of the process.

    .venv/bin/python -m eval.bench_agent --runs 2 [--model qwen2.5-coder-1.5b] [--only fast,templated,auto] [--json]

Uses the configured data dir (the demo catalog is loaded if the store is empty)."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from typing import Any

from assistant.agent import Agent
from assistant.app import Assistant
from assistant.settings import load_settings

CONVERSATIONS = [
    ["我想买件T恤", "蓝色的, 100块以内", "便宜点的", "第二件有别的颜色吗"],
    ["wireless mouse", "black ones under $40", "cheaper please", "does the second one come in other colours?"],
    ["推荐一款蓝牙耳机"], ["HP toner cartridge"], ["2000元以内的手机"], ["computer monitor under $300"],
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2, help="times each conversation is played per configuration")
    p.add_argument("--model", default=None, help="bundled model name (default: the setting)")
    p.add_argument("--reply-tokens", type=int, default=160)
    p.add_argument("--only", default=",".join(CONFIGS), help=f"comma-separated configurations to run, of: "
                   f"{', '.join(CONFIGS)} (default: all)")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 1)}


def play(agent: Agent, runs: int) -> dict[str, Any]:
    """Every conversation `runs` times; first-token and turn latencies, fallbacks, answered turns."""
    first: list[float] = []
    whole: list[float] = []
    fallbacks = answered = turns = 0
    for _ in range(runs):
        for conversation in CONVERSATIONS:
            session = None
            for message in conversation:
                turn = agent.respond(message, session_id=session)
                session = turn.session_id
                turns += 1
                whole.append(turn.total_ms)
                if turn.first_token_ms is not None:
                    first.append(turn.first_token_ms)
                fallbacks += turn.fallback is not None
                answered += bool(turn.products or turn.clarification or turn.reply.strip())
    return {"turns": turns, "first_token_ms": _stats(first), "turn_ms": _stats(whole),
            "fallbacks": fallbacks, "answered": answered}


def fast_path(assistant: Assistant, runs: int) -> dict[str, Any]:
    """The baseline: the fast path (analyze) on every message, no conversation state, no model."""
    whole: list[float] = []
    for _ in range(runs):
        for conversation in CONVERSATIONS:
            for message in conversation:
                start = time.perf_counter()
                assistant.analyze(message, k=5)
                whole.append((time.perf_counter() - start) * 1000)
    return {"turns": len(whole), "turn_ms": _stats(whole)}


CONFIGS = {
    "fast": ("fast path (analyze, baseline)", lambda a, args: fast_path(a, args.runs)),
    "templated": ("agent, templated reply (no model)", lambda a, args: play(Agent(a, use_model=False), args.runs)),
    "auto": ("agent + model reply (tool_calls=auto)",
             lambda a, args: play(Agent(a, reply_tokens=args.reply_tokens), args.runs)),
    "always": ("agent + model search call + reply (always)",
               lambda a, args: play(Agent(a, tool_calls="always", reply_tokens=args.reply_tokens), args.runs)),
}


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    args = parse_args(argv)
    settings = load_settings()
    if args.model:
        settings = settings.model_copy(update={"llm_model": args.model})
    assistant = Assistant(settings)
    assistant.ensure_catalog()
    load_s = assistant.warm_up(model=True)
    start = time.perf_counter()
    assistant.chat_model.ensure_ready()
    model_load_s = time.perf_counter() - start
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(wanted) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown configuration(s): {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    rows = {CONFIGS[c][0]: CONFIGS[c][1](assistant, args) for c in CONFIGS if c in wanted}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_mb = current_rss_mb()
    result = {"model": settings.llm_model, "threads": settings.llm_threads, "warm_up_s": round(load_s, 2),
              "model_load_s": round(model_load_s, 2), "peak_rss_mb": round(peak_rss_mb),
              "rss_after_mb": round(rss_mb), "rows": rows}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"model {result['model']}, {result['threads']} threads; warm-up {result['warm_up_s']} s, "
          f"model load {result['model_load_s']} s; RSS after the turns {result['rss_after_mb']} MB "
          f"(peak while loading {result['peak_rss_mb']} MB)")
    print(f"{'configuration':<46} {'turns':>5} {'first p50':>10} {'first p95':>10} {'turn p50':>9} {'turn p95':>9}"
          f" {'fallbacks':>9}")
    for name, row in rows.items():
        ft = row.get("first_token_ms", {"p50": None, "p95": None})
        print(f"{name:<46} {row['turns']:>5} {ft['p50'] or '-':>10} {ft['p95'] or '-':>10} "
              f"{row['turn_ms']['p50']:>9} {row['turn_ms']['p95']:>9} {row.get('fallbacks', '-'):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
