"""Benchmark the embedded chat model: GGUF assembly + verification, model load, first-token latency and decode
speed, each the median of N runs.

    .venv/bin/python eval/bench_llm.py --model qwen2.5-coder-0.5b --n-tokens 64 --runs 5
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.llm_embedded import EmbeddedChatModel
from assistant.model_files import MODELS, ensure_bundled_model, file_sha256, stamp_matches

DEFAULT_PROMPT = "给我推荐几款50元以内的蓝色T恤，并说明理由。"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-0.5b", help="bundled model")
    p.add_argument("--gguf", type=Path, help="benchmark this GGUF file instead (skips assembly)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help="user message")
    p.add_argument("--n-tokens", type=int, default=64, help="tokens to generate per run (EOS is suppressed)")
    p.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    p.add_argument("--assembly-runs", type=int, default=1, help="runs of the full assembly (0 to skip)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--work-dir", type=Path, help="where to assemble (default: a temp dir, removed afterwards)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    return p.parse_args(argv)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_files(model: str, work_dir: Path, runs: int) -> tuple[Path, dict[str, list[float]]]:
    """Assemble + verify the bundled GGUF `runs` times; also time the stamp check and a forced re-verify."""
    spec = MODELS[model]
    out: dict[str, list[float]] = {"assembly+verify (s)": [], "stamp check (s)": [], "full re-verify (s)": []}
    path = work_dir / spec.filename
    for _ in range(max(runs, 1)):
        path.unlink(missing_ok=True)
        seconds, path = timed(lambda: ensure_bundled_model(spec, work_dir, progress=False))
        out["assembly+verify (s)"].append(seconds)
    for _ in range(3):
        out["stamp check (s)"].append(timed(lambda: stamp_matches(path, spec.sha256))[0])
    out["full re-verify (s)"].append(timed(lambda: file_sha256(path))[0])
    return path, out


def eos_bias(llama: Any) -> dict[int, float]:
    """Logit bias that suppresses every end-of-turn token, so each run generates exactly n tokens."""
    ids = {llama.token_eos(), *llama.tokenize(b"<|im_end|><|endoftext|>", add_bos=False, special=True)}
    return {i: -1e9 for i in ids if i >= 0}


def one_generation(model: EmbeddedChatModel, prompt: str, n_tokens: int, bias: dict[int, float], *,
                   fresh: bool) -> dict[str, float]:
    """Stream one reply; first-token latency, decode tokens/s and total time. `fresh` drops the cached prompt."""
    if fresh:
        model.load().reset()
    messages = [{"role": "user", "content": prompt}]
    start = time.perf_counter()
    first = last = 0.0
    pieces = 0
    for chunk in model.chat_completion(messages, stream=True, max_tokens=n_tokens, temperature=0.0,
                                       logit_bias=bias):
        if chunk["choices"] and chunk["choices"][0].get("delta", {}).get("content"):  # the last chunk: usage only
            last = time.perf_counter()
            first = first or last
            pieces += 1
    end = time.perf_counter()
    decode = (n_tokens - 1) / (last - first) if last > first else float("nan")
    return {"first token (s)": first - start, "decode (tok/s)": decode, "total (s)": end - start,
            "chunks": pieces}


def bench_model(path: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """Load the model `runs` times, then time generations: the first after load, then `runs` with a fresh
    prompt and `runs` with the prompt already in the KV cache (as in a conversation)."""
    out: dict[str, list[float]] = {"load (s)": []}
    model = None
    for _ in range(args.runs):
        model = None
        gc.collect()
        model = EmbeddedChatModel(model_path=path, n_ctx=args.ctx, n_threads=args.threads)
        out["load (s)"].append(timed(model.load)[0])
    assert model is not None
    bias = eos_bias(model.load())
    cold = one_generation(model, args.prompt, args.n_tokens, bias, fresh=True)
    out["first call after load: first token (s)"] = [cold["first token (s)"]]
    out["first call after load: total (s)"] = [cold["total (s)"]]
    for fresh, tag in ((True, "fresh prompt"), (False, "cached prompt")):
        for _ in range(args.runs):
            for key, value in one_generation(model, args.prompt, args.n_tokens, bias, fresh=fresh).items():
                out.setdefault(f"{tag}: {key}", []).append(value)
    usage = model.chat_completion([{"role": "user", "content": args.prompt}], max_tokens=1)["usage"]
    out["prompt tokens (chat template applied)"] = [usage["prompt_tokens"]]
    return out


def render(title: str, results: dict[str, list[float]]) -> str:
    """A plain-text table: metric, median, min, max, n."""
    lines = [title, f"{'metric':<40} {'median':>10} {'min':>10} {'max':>10} {'n':>4}"]
    for key, values in results.items():
        lines.append(f"{key:<40} {statistics.median(values):>10.3f} {min(values):>10.3f} {max(values):>10.3f} "
                     f"{len(values):>4}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        path = args.gguf
        if path is None:
            path, file_results = bench_files(args.model, work_dir, args.assembly_runs)
            results.update(file_results)
        results.update(bench_model(path, args))
    label = path.name if args.gguf else args.model
    title = (f"{label}: {args.n_tokens} tokens, {args.runs} runs, {args.threads} threads, ctx {args.ctx}, "
             f"prompt {args.prompt!r}, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} (1 min)")
    if args.json:
        print(json.dumps({"title": title, "median": {k: statistics.median(v) for k, v in results.items()},
                          "runs": results}, ensure_ascii=False))
    else:
        print(render(title, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
