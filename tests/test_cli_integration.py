"""The command line end to end with the real e5 encoder, a real chromadb on disk and the real embedded model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.app import DEMO_CATALOG

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    lines = DEMO_CATALOG.read_text(encoding="utf-8").splitlines()
    catalog = data / "catalog.jsonl"
    # a few English and Chinese products, and three broken rows at known lines
    rows = lines[:120] + lines[3000:3120]
    rows.insert(9, '{"id": "bad-1", "title": ')
    rows.insert(19, '{"id": "bad-2"}')
    rows.insert(29, '{"id": "bad-3", "title": "x", "price": -5}')
    catalog.write_text("\n".join(rows) + "\n", encoding="utf-8")
    environ = {**os.environ, "SHOPQUERY_DATA_DIR": str(data / "home"), "HF_HUB_OFFLINE": "1"}
    return {"catalog": catalog, "env": environ, "data": data}


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=env["env"], input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_ingest_reports_bad_rows_by_line_and_keeps_good_rows(env):
    first = run(env, "ingest", str(env["catalog"]), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "catalog.jsonl:10: skipped: invalid JSON" in first.stderr
    assert "catalog.jsonl:20: skipped: title: Field required" in first.stderr
    assert "catalog.jsonl:30: skipped: 'price' must be a finite number >= 0" in first.stderr
    assert "loaded 240 (240 new, 0 updated, 0 unchanged), skipped 3 bad rows" in first.stdout
    again = run(env, "ingest", str(env["catalog"]), "--quiet")
    assert "loaded 240 (0 new, 0 updated, 240 unchanged)" in again.stdout


def test_analyze_json_filters_and_corrects(env):
    run(env, "ingest", str(env["catalog"]), "--quiet")
    out = run(env, "analyze", "black toner under $100", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # the price bound is a stated constraint (a filter); the colour is evidence: black products rank first
    assert result["filters"]["price_max"] == 100 and result["filters"]["colors"] == []
    assert result["attributes"]["color"] == "black"
    assert result["products"], "expected toner under $100 in the first 120 English products"
    assert all(hit["product"]["price"] <= 100 for hit in result["products"])
    assert result["products"][0]["product"]["color"] == "black"
    assert [t["stage"] for t in result["timings"]][-1] == "search"  # query expansion is off by default
    assert result["expansions"] == []
    assert result["intent"]["label"] == "product_search"
    refund = json.loads(run(env, "analyze", "我要退货退款", "--json").stdout)
    assert refund["intent"]["label"] == "return_refund"
    fixed = json.loads(run(env, "analyze", "tonner cartridge", "--json").stdout)
    assert fixed["corrected_query"] == "toner cartridge"


@pytest.mark.parametrize("query, message", [
    ("", "the query is empty"),
    ("x" * 10_000, "the limit is 512"),
    ("\x01\x02\x03\x04\x05", "binary/control characters"),
])
def test_bad_queries_get_a_clear_error_and_no_traceback(env, query, message):
    out = run(env, "analyze", query)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_missing_catalog_file_is_a_clear_error(env):
    out = run(env, "ingest", str(env["data"] / "nope.csv"))
    assert out.returncode == 2 and "catalog file not found" in out.stderr and "Traceback" not in out.stderr


def test_eval_retrieval_on_an_arbitrary_catalog_prints_one_json_object(env):
    queries = env["data"] / "q.jsonl"
    queries.write_text(json.dumps({"query": "toner", "relevant": {"1200827": 2}}) + "\n"
                       + json.dumps({"query": "手机壳", "relevant": ["tb-train-72"]}) + "\n", encoding="utf-8")
    out = run(env, "eval", "retrieval", "--data", str(queries), "--catalog", str(env["catalog"]), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["catalog_products"] == 240 and result["queries"] == 2 and result["failed"] == 0
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "p50_ms", "p95_ms"} <= set(result)


def test_chat_with_a_missing_model_file_falls_back_to_results(env):
    run(env, "ingest", str(env["catalog"]), "--quiet")
    broken = {**env["env"], "SHOPQUERY_LLM_GGUF_PATH": str(env["data"] / "missing.gguf")}
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "chat"], cwd=ROOT, env=broken,
                         input="toner\nexit\n", capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Here is what I found:" in out.stdout and "  1. [" in out.stdout
    assert "unavailable" in out.stderr and "Traceback" not in out.stderr
    assert "[tool] search_catalog" in out.stderr and "[fallback] templated_reply" in out.stderr


def test_chat_conversation_with_the_real_model_refines_and_shows_the_trace(env):
    run(env, "ingest", str(env["catalog"]), "--quiet")
    talk = "我想买件T恤\n蓝色的, 100块以内\n便宜点的\n第二件有别的颜色吗\nexit\n"
    out = run(env, "chat", "--max-tokens", "60", stdin=talk)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    answers = out.stdout.split("> ")[1:5]
    assert len(answers) == 4 and all("  1. [" in a for a in answers)
    assert out.stderr.count("[tool] search_catalog") == 4
    assert "price_max" in out.stderr and "exclude_colors" in out.stderr
