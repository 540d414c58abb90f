import json
import re

import pytest
from eval_records import case, cell, run, write

from eval.plots import box_stats, confusion_counts, nice_max
from eval.report import main as report_main
from eval.report import render_markdown, write_reports
from eval.report_html import render_html
from eval.report_record import (
    RecordedCase,
    RunRecordError,
    load_run,
    metric_direction,
    parse_run,
)

INJECT_QUERY = '<script>alert("q")</script> 蓝色T恤'
INJECT_TITLE = '<img src=x onerror=alert(1)> 耐克运动鞋'


def two_cell_run():
    """Two variants on one model; c2 flips and its reply differs; thresholds: pass_rate >= 0.85."""
    base = cell("default", metrics={"pass_rate": 0.9, "fallback_rate": 0.05, "turn_ms_p50": 850.0,
                                    "cases": 3},
                cases=[case("c1", latency=800.0), case("c2", latency=900.0), case("c3", latency=1000.0)])
    terse = cell("terse", metrics={"pass_rate": 0.8, "fallback_rate": 0.2, "turn_ms_p50": 1200.0, "cases": 3},
                 cases=[case("c1", latency=1100.0),
                        case("c2", passed=False, latency=1300.0, failures=["product tb-1 colour red != blue"],
                             output={"reply": "抱歉，没有找到", "products": []}),
                        case("c3", passed=False, latency=None, error="TimeoutError: model took too long",
                             failures=[])],
                 threshold_failures=["pass_rate 0.8 < 0.85"])
    return run([base, terse])


def test_markdown_lists_header_metrics_thresholds_failures_and_cache():
    text = render_markdown(parse_run(two_cell_run()))
    assert text.startswith("# Eval report: agent — 20261129-021500-agent")
    assert "sha256 " + "a" * 64 in text and "2026-11-29T02:15:00Z" in text
    assert "embedded:qwen2.5-coder-0.5b" in text and "terse (prompts/variants/terse.yaml)" in text
    table = text.split("## Metrics")[1].split("##")[0].strip().splitlines()
    head, rows = table[0], {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
                            for line in table[2:] if line.startswith("|")}
    columns = [c.strip() for c in head.split("|")[1:-1]]
    assert columns[:5] == ["variant", "model", "pass", "fail", "error"]
    assert columns[5:] == ["pass\\_rate ↑", "fallback\\_rate ↓", "turn\\_ms\\_p50 ↓", "cases"]
    assert rows["default"][2:] == ["3", "0", "0", "0.9", "0.05", "850", "3"]
    assert rows["terse"][2:] == ["1", "1", "1", "**0.8 ✗**", "0.2", "1200", "3"]
    assert "terse × embedded:qwen2.5-coder-0.5b: pass\\_rate 0.8 &lt; 0.85" in text
    assert "- `c2` 蓝色T恤 50元以内 — product tb-1 colour red != blue" in text
    assert "- `c3` 蓝色T恤 50元以内 — error: TimeoutError: model took too long" in text
    assert "All 3 cases passed." in text
    assert "| default | embedded:qwen2.5-coder-0.5b | 0 | 10 | 0% |" in text
    assert re.search(r"- default: 2 templates, prompt set [0-9a-f]{12}\n- terse: 2 templates", text)
    assert "Templates that differ between variants (1 of 2):" in text
    assert "| reply/products/zh | default-hash | terse-hash-0 |" in text and "| agent/system/en |" not in text


def test_threshold_failure_is_marked_even_when_the_runner_did_not_record_it():
    record = run([cell(metrics={"pass_rate": 0.5, "turn_ms_p50": 5000.0})])
    text = render_markdown(parse_run(record))
    assert "**0.5 ✗**" in text and "**5000 ✗**" in text
    assert "turn\\_ms\\_p50 5000 outside ≤ 4000" in text


def test_html_is_one_self_contained_file_with_plots(tmp_path):
    paths = write_reports(write(tmp_path / "run", two_cell_run()))
    assert set(paths) == {"markdown", "html"}
    assert all(p.parent == tmp_path / "run" and p.is_file() for p in paths.values())
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page, re.I)
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page and page.count("<script") == 1
    assert page.count("<svg") >= 4  # three judged metrics as bars + the latency box plot
    assert "latency per case (ms)" in page and 'id="case-filter"' in page
    assert "蓝色T恤 50元以内" in page and "抱歉，没有找到" in page


def test_metric_cells_and_charts_carry_the_values():
    page = render_html(parse_run(two_cell_run()))
    assert '<td class="num bad" data-metric="pass_rate">0.8 ✗</td>' in page
    assert '<td class="num" data-metric="pass_rate">0.9</td>' in page
    assert "<title>terse × embedded:qwen2.5-coder-0.5b: 1200</title>" in page
    assert '<line x1="46" y1="50.5"' in page  # pass_rate threshold 0.85 on a 0..1 axis of 150 px from y=28
    assert "n=2, median 1200 ms" in page  # terse c3 has no latency


def test_untrusted_case_text_is_escaped_everywhere(tmp_path):
    evil = case("<b>c1</b>", passed=False, query=INJECT_QUERY, failures=[INJECT_TITLE],
                output={"reply": INJECT_TITLE, "products": [{"title": '"><svg onload=alert(2)>'}]},
                labels={"expected": "<i>search</i>", "predicted": INJECT_TITLE})
    record = run([cell("<em>v</em>", model="x:<u>m</u>", cases=[evil]),
                  cell("default", cases=[case("<b>c1</b>")])])
    paths = write_reports(write(tmp_path / "run", record))
    page = paths["html"].read_text(encoding="utf-8")
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>c1", "<i>search", "<em>v", "<u>m"):
        assert raw not in page
    assert page.count("<script") == 1
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt; 蓝色T恤" in page
    assert "&lt;img src=x onerror=alert(1)&gt; 耐克运动鞋" in page
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown and "<em>" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt; 耐克运动鞋" in markdown


def test_confusion_matrix_counts_labelled_cases():
    labelled = [case(f"i{n}", labels={"expected": e, "predicted": p}) for n, (e, p) in enumerate(
        [("search", "search")] * 3 + [("search", "compare"), ("compare", "compare"), ("order_status", None)])]
    record = run([cell(cases=labelled + [case("plain")])])
    labels, counts = confusion_counts(parse_run(record).cells[0].cases)
    assert labels == ["(none)", "compare", "order_status", "search"]
    assert counts[("search", "search")] == 3 and counts[("search", "compare")] == 1
    assert counts[("order_status", "(none)")] == 1 and sum(counts.values()) == 6
    page = render_html(parse_run(record))
    cells = dict(((e, p), int(n)) for e, p, n in re.findall(
        r'data-expected="([^"]+)" data-predicted="([^"]+)"[^>]*>(\d+)</td>', page))
    assert len(cells) == 16
    assert cells[("search", "search")] == 3 and cells[("search", "compare")] == 1
    assert cells[("compare", "search")] == 0 and cells[("order_status", "(none)")] == 1
    assert "4 of 6 labelled cases on the diagonal" in page


def test_case_table_and_diffs_show_what_changed_between_cells():
    page = render_html(parse_run(two_cell_run()))
    rows = re.findall(r'<tr data-fail="(\d)" data-differs="(\d)"><td><code>(\w+)</code>', page)
    assert rows == [("0", "0", "c1"), ("1", "1", "c2"), ("1", "1", "c3")]
    diffs = page.split('id="differences-between-cells"')[1]
    assert "2 cases differ between cells." in diffs
    assert '<span class="del">-  "reply": "为您找到蓝色T恤"</span>' in diffs
    assert '<span class="add">+  "reply": "抱歉，没有找到"</span>' in diffs
    assert "⚠ error" in diffs and "(same output)" in diffs


@pytest.mark.parametrize("record", [
    {"schema": "shopquery.eval.run/1"},
    {"schema": "shopquery.eval.run/1", "suite": None, "metric_directions": None,
     "cells": [{"metrics": None, "cases": None, "cache": None}]},
    {"schema": "shopquery.eval.run/1", "cells": [{"cases": [{"id": 7}], "metrics": {"pass_rate": None}}]},
    run([cell(cases=[], metrics={"pass_rate": None, "turn_ms_p50": None})]),
    run([cell(metrics={"pass_rate": 0.0, "errors": 2, "per_label_f1": {"search": 0.5}},
              cases=[case("e1", passed=False, latency=None, error="RuntimeError: boom", output={}),
                     case("e2", passed=False, latency=None, error="ValueError: bad", output=None)])]),
], ids=["empty", "nulls", "minimal-case", "zero-cases", "only-errors"])
def test_partial_runs_still_render(tmp_path, record):
    paths = write_reports(write(tmp_path / "run", record))
    page = paths["html"].read_text(encoding="utf-8")
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert page.endswith("</html>\n") and markdown.startswith("# Eval report:")
    if record.get("cells") and not record["cells"][0].get("cases"):
        assert "No cases recorded." in markdown and "No per-case latency recorded." in page
    if "only-errors" in str(tmp_path):
        assert "error: RuntimeError: boom" in markdown and "per_label_f1" not in markdown


@pytest.mark.parametrize(("content", "message"), [
    (json.dumps({"schema": "shopquery.eval.run/2", "cells": []}), "schema version '2' is not supported"),
    (json.dumps({"cells": []}), "no 'schema' field"),
    (json.dumps({"schema": "other.thing/1"}), "is not a shopquery eval run record"),
    (json.dumps([1, 2]), "expected a JSON object"),
    ("{not json", "not valid JSON (line 1"),
    (json.dumps({"schema": "shopquery.eval.run/1", "cells": [{"cases": [{"passed": True}]}]}),
     "cells.0.cases.0.id"),
    (json.dumps({"schema": "shopquery.eval.run/1", "metric_directions": {"x": "up"}}), "metric_directions.x"),
])
def test_unreadable_records_fail_with_a_clear_error(tmp_path, content, message):
    (tmp_path / "result.json").write_text(content, encoding="utf-8")
    with pytest.raises(RunRecordError, match=re.escape(message)):
        load_run(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_command_line_writes_reports_or_explains_the_error(tmp_path, capsys):
    run_dir = write(tmp_path / "run", two_cell_run())
    assert report_main([str(run_dir / "result.json")]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(run_dir / "report.md"), str(run_dir / "report.html")]
    assert report_main([str(tmp_path / "nowhere")]) == 2
    assert "no such run record" in capsys.readouterr().err


def test_metric_direction_rule():
    assert metric_direction("turn_p95_ms") == "lower" and metric_direction("turn_ms_p50") == "lower"
    assert metric_direction("false_correction_rate") == "lower"
    assert metric_direction("fallback_rate") == "lower"
    assert metric_direction("answered_rate") == "higher" and metric_direction("ndcg@10") == "higher"
    assert metric_direction("cases") is None
    assert metric_direction("fallback_rate", {"fallback_rate": "higher"}) == "higher"


def test_plot_helpers():
    assert [nice_max(v) for v in (0, 0.3, 1, 3322, 12.5)] == [1.0, 0.5, 1, 5000, 20]
    stats = box_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["median"] == 3.0 and stats["min"] == 1.0 and stats["max"] == 100.0 and stats["n"] == 5
    assert RecordedCase(id="x", error="E: y").status == "error"


def test_a_cell_that_could_not_run_is_reported():
    broken = cell("terse", metrics={}, cases=[], error="ModelUnavailable: <b>gone</b>",
                  threshold_failures=["cell failed: ModelUnavailable: <b>gone</b>"],
                  details={"fallback_reasons": {"timeout": 3}})
    parsed = parse_run(run([cell(), broken]))
    text = render_markdown(parsed)
    assert "The cell could not run: ModelUnavailable: &lt;b&gt;gone&lt;/b&gt;" in text
    failure = "terse × embedded:qwen2.5-coder-0.5b: cell failed: ModelUnavailable: &lt;b&gt;gone&lt;/b&gt;"
    assert failure in text
    page = render_html(parsed)
    assert f"<li>{failure}</li>" in page
    assert "&quot;timeout&quot;: 3" in page and "<b>gone" not in page


def test_a_report_of_the_whole_agent_suite_over_four_cells_stays_under_one_megabyte(tmp_path):
    """Every agent conversation (eval/data/agent_dev.jsonl) in 2 variants x 2 models, with long model-written
    replies and tool-call arguments that differ between cells."""
    from pathlib import Path

    lines = (Path(__file__).resolve().parent.parent / "eval" / "data" / "agent_dev.jsonl").read_text(
        encoding="utf-8").splitlines()
    conversations = [json.loads(line) for line in lines if line.strip()]
    cells = []
    for variant in ("default", "terse"):
        for model in ("embedded:qwen2.5-coder-0.5b", "embedded:qwen2.5-coder-1.5b"):
            cases = []
            for i, conv in enumerate(conversations):
                reply = f"{variant} {model} {i}: " + "为你找到这些商品：纯棉短袖T恤，蓝色，79元，适合夏天。" * 12
                output = {"reply": reply, "products": [f"tb-train-{i * 7 + k}" for k in range(5)],
                          "intent": "product_search", "action": "search",
                          "tools_called": ["classify_intent", "correct_spelling", "parse_attributes",
                                           "search_catalog"], "used_model": True, "fallback": None,
                          "model_calls": [{"name": "reply", "args": {"query": conv["messages"][-1]["content"],
                                                                     "colour": "蓝色", "price_max": 100},
                                           "error": None}] * 3}
                record = case(conv.get("id", f"agent-{i}"), passed=i % 5 != (len(cells) % 5), latency=2500.0 + i,
                              output=output, query=conv["messages"][-1]["content"])
                record["input"] = [m["content"] for m in conv["messages"] if m["role"] == "user"]
                record["expected"] = conv.get("expect", {})
                cases.append(record)
            cells.append(cell(variant, model=model, cases=cases))
    paths = write_reports(write(tmp_path / "run", run(cells)))
    size = paths["html"].stat().st_size
    assert len(conversations) >= 50 and 100_000 < size < 1_000_000, size
