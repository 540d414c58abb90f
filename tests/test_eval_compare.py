import json

import pytest
from eval_records import case, cell, run, variant, write

from eval.compare import IncompatibleRuns, compare_command, compare_runs, judge_metric
from eval.compare import main as compare_main
from tools.core.errors import InputError

METRICS = {"pass_rate": 0.9, "fallback_rate": 0.1, "turn_ms_p50": 1000.0, "cases": 4}


def cases_a():
    return [case("c1"), case("c2"), case("c3", passed=False, failures=["no products"]), case("gone")]


def cases_b():
    return [case("c1", output={"reply": "换了一个回答", "products": ["tb-1"]}),
            case("c2", passed=False, failures=["product tb-9 colour red != blue"]),
            case("c3"), case("added")]


def pair(tmp_path, metrics_b, metrics_a=None, cells_b=None, **run_b):
    a = run([cell(metrics=metrics_a or METRICS, cases=cases_a())])
    b = run(cells_b or [cell(metrics=metrics_b, cases=cases_b())], **run_b)
    return write(tmp_path / "a", a), write(tmp_path / "b", b)


def verdicts(comparison, index=0):
    return {m.name: m.status for m in comparison.cells[index].metrics}


def test_regression_fails_the_gate(tmp_path, capsys):
    a, b = pair(tmp_path, {**METRICS, "pass_rate": 0.85})
    assert compare_command(a, b) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("pass_rate"))
    assert line.split() == ["pass_rate", "↑", "0.9", "0.85", "-0.05", "REGRESSION"]
    assert out.splitlines()[-1].startswith("RESULT: REGRESSION (1): default × embedded:qwen2.5-coder-0.5b: "
                                           "pass_rate 0.9 → 0.85")


def test_improvement_passes_the_gate(tmp_path, capsys):
    a, b = pair(tmp_path, {**METRICS, "pass_rate": 0.95, "fallback_rate": 0.05, "turn_ms_p50": 800.0})
    assert compare_command(a / "result.json", b / "result.json") == 0
    out = capsys.readouterr().out
    judged = [x.split() for x in out.splitlines() if x.startswith(("pass_rate", "fallback", "turn"))]
    assert {words[0]: words[-1] for words in judged} == {
        "pass_rate": "improved", "fallback_rate": "improved", "turn_ms_p50": "improved"}
    assert "-200 (-20.0%)" in out and "RESULT: no regression" in out


def test_per_case_changes_are_listed(tmp_path, capsys):
    a, b = pair(tmp_path, METRICS)
    assert compare_command(a, b) == 0
    out = capsys.readouterr().out
    assert "cases: 1 regressed, 1 fixed, 1 new, 1 missing, 1 output changed" in out
    assert "  regressed       c2  pass → fail: product tb-9 colour red != blue" in out
    assert "  fixed           c3  fail → pass: no products" in out
    assert "  new             added  — → pass" in out and "  missing         gone  pass → —" in out
    assert "  output changed  c1  pass → pass: changed: reply" in out


@pytest.mark.parametrize(("new", "status"), [(0.88, "unchanged"), (0.8799, "regression"), (0.92, "unchanged"),
                                             (0.9201, "improvement")])
def test_score_threshold_is_absolute_and_inclusive(new, status):
    assert judge_metric("pass_rate", 0.9, new, "higher", 0.02, 0.1).status == status


@pytest.mark.parametrize(("new", "status"), [(1100.0, "unchanged"), (1100.5, "regression"),
                                             (900.0, "unchanged"), (899.0, "improvement")])
def test_latency_threshold_is_relative(new, status):
    assert judge_metric("turn_ms_p50", 1000.0, new, "lower", 0.02, 0.1).status == status


def test_thresholds_are_configurable(tmp_path, capsys):
    a, b = pair(tmp_path, {**METRICS, "pass_rate": 0.85, "turn_ms_p50": 2000.0})
    assert compare_command(a, b, threshold=0.05, latency_threshold=1.0) == 0
    assert compare_command(a, b, threshold=0.05, latency_threshold=0.5) == 1
    assert compare_main([str(a), str(b), "--threshold", "0.05", "--no-latency-gate"]) == 0
    assert "latency not gated" in capsys.readouterr().out


def test_direction_rule_and_run_facts():
    a = run([cell(metrics={"fallback_rate": 0.1, "false_correction_rate": 0.01, "coverage_rate": 0.5,
                           "failed": 2, "cases": 10, "p95_ms": 10.0})], metric_directions={})
    b = run([cell(metrics={"fallback_rate": 0.2, "false_correction_rate": 0.05, "coverage_rate": 0.6,
                           "failed": 2, "cases": 3, "p95_ms": 10.5})], metric_directions={})
    result = compare_runs(a, b)
    assert verdicts(result) == {"fallback_rate": "regression", "false_correction_rate": "regression",
                                "coverage_rate": "improvement", "failed": "unchanged", "cases": "info",
                                "p95_ms": "unchanged"}
    declared = variant(b, metric_directions={"fallback_rate": "higher"})
    assert verdicts(compare_runs(a, declared))["fallback_rate"] == "improvement"


def test_counts_are_relative_and_a_lost_metric_is_a_regression():
    a = run([cell(metrics={"failed": 10, "tool_call_validity": 0.9, "oos_recall": None,
                           "answered_rate": 0.7})])
    b = run([cell(metrics={"failed": 10.2, "tool_call_validity": None, "oos_recall": None, "extra": 0.3})])
    result = compare_runs(a, b)
    assert verdicts(result) == {"failed": "unchanged", "tool_call_validity": "missing", "oos_recall": "n/a",
                                "answered_rate": "missing", "extra": "new"}
    assert result.has_regression and len(result.regressions) == 2


def test_a_newly_failing_suite_threshold_is_a_regression():
    a = run([cell(metrics={"turn_ms_p50": 3950.0})])
    b = run([cell(metrics={"turn_ms_p50": 4100.0}, threshold_failures=["turn_ms_p50 4100 > 4000"])])
    result = compare_runs(a, b)
    assert verdicts(result)["turn_ms_p50"] == "unchanged"
    assert result.regressions == [
        "default × embedded:qwen2.5-coder-0.5b: turn_ms_p50 now fails its threshold"]


def test_cells_match_by_variant_and_model():
    m1, m2 = "embedded:qwen2.5-coder-0.5b", "embedded:qwen2.5-coder-1.5b"
    a = run([cell("default", m1, {"pass_rate": 0.9}), cell("terse", m1, {"pass_rate": 0.9}),
             cell("default", m2, {"pass_rate": 0.5})])
    b = run([cell("default", m2, {"pass_rate": 0.9}), cell("terse", m1, {"pass_rate": 0.5}),
             cell("verbose", m1, {"pass_rate": 1.0})])
    result = compare_runs(a, b)
    assert [c.label for c in result.cells] == [f"terse × {m1}", f"default × {m2}"]
    assert [c.metrics[0].status for c in result.cells] == ["regression", "improvement"]
    assert result.only_in_a == [f"default × {m1}"] and result.only_in_b == [f"verbose × {m1}"]


def test_single_cells_are_compared_whatever_their_names(tmp_path, capsys):
    a, b = pair(tmp_path, METRICS, cells_b=[cell("terse", "openai:qwen05", METRICS, cases_b())])
    assert compare_command(a, b) == 0
    out = capsys.readouterr().out
    assert ("warning: one cell on each side: comparing default × embedded:qwen2.5-coder-0.5b with "
            "terse × openai:qwen05") in out


@pytest.mark.parametrize(("change", "message"), [
    ({"suite": "intent"}, "different suites: 'agent' (agent) vs 'intent' (intent)"),
    ({"data_sha": "b" * 64}, "different datasets: eval/data/agent_dev.jsonl (sha256 aaaaaaaaaaaa) vs"),
    ({"cells_b": [cell("terse"), cell("verbose")]}, "no cell in common"),
])
def test_incompatible_runs_exit_2_with_the_reason(tmp_path, capsys, change, message):
    a, b = pair(tmp_path, METRICS, **change)
    assert compare_command(a, b) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    with pytest.raises(IncompatibleRuns):
        compare_runs(json.loads((a / "result.json").read_text()), json.loads((b / "result.json").read_text()))


def test_a_data_change_can_be_allowed_with_a_warning(tmp_path, capsys):
    a, b = pair(tmp_path, METRICS, data_sha="b" * 64)
    assert compare_main([str(a), str(b), "--allow-data-change"]) == 0
    assert "compared anyway, cases matched by id" in capsys.readouterr().out


def test_unreadable_input_exits_2(tmp_path, capsys):
    a, b = pair(tmp_path, METRICS)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "result.json").write_text(json.dumps({"schema": "shopquery.eval.run/9"}),
                                                  encoding="utf-8")
    assert compare_command(a, tmp_path / "bad") == 2
    assert "schema version '9' is not supported" in capsys.readouterr().err
    assert compare_command(a, tmp_path / "missing") == 2
    assert "no such run record" in capsys.readouterr().err
    assert compare_command(a, b, out=tmp_path / "diff.pdf") == 2
    assert "--out must end in .md" in capsys.readouterr().err
    assert compare_command(a, b, threshold=-1) == 2
    with pytest.raises(InputError, match="zero or positive"):
        compare_runs(run(), run(), threshold=-0.1)


@pytest.mark.parametrize("suffix", [".md", ".html", ".json"])
def test_diff_is_written_in_the_format_of_the_suffix(tmp_path, suffix):
    a = run([cell(metrics=METRICS, cases=[case("<b>x</b>")])])
    b = run([cell(metrics={**METRICS, "pass_rate": 0.5},
                  cases=[case("<b>x</b>", passed=False, failures=["<img src=x onerror=alert(1)> 红色"])])])
    out = tmp_path / f"diff{suffix}"
    assert compare_command(write(tmp_path / "a", a), write(tmp_path / "b", b), out=out) == 1
    text = out.read_text(encoding="utf-8")
    if suffix == ".json":
        data = json.loads(text)
        assert data["regressions"] and data["cells"][0]["cases"][0]["change"] == "regressed"
        return
    assert "<img" not in text and "<b>x" not in text and "红色" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    if suffix == ".html":
        assert '<meta charset="utf-8">' in text and "<script" not in text and "://" not in text
        assert '<tr class="regression"><td>pass_rate ↑</td>' in text
    else:
        assert "| pass\\_rate ↑ | 0.9 | 0.5 | -0.4 | **REGRESSION** |" in text


def test_a_cell_that_could_not_run_is_a_regression(tmp_path, capsys):
    broken = cell(metrics={}, cases=[], error="ModelUnavailable: model file not found",
                  threshold_failures=["cell failed: ModelUnavailable: model file not found"])
    a, b = pair(tmp_path, METRICS, cells_b=[broken])
    assert compare_command(a, b) == 1
    out = capsys.readouterr().out
    assert "cell failed in B: ModelUnavailable: model file not found" in out
    assert "cases: 0 regressed, 0 fixed, 0 new, 4 missing, 0 output changed" in out
    assert "cell now fails" not in out


def test_run_facts_are_never_judged_even_when_declared():
    declared = {"cases": "higher", "turns": "higher"}
    a = run([cell(metrics={"cases": 54, "turns": 80})], metric_directions=declared)
    b = run([cell(metrics={"cases": 50, "turns": 60})], metric_directions=declared)
    assert verdicts(compare_runs(a, b)) == {"cases": "info", "turns": "info"}


def test_latency_of_cells_replayed_from_the_cache_is_shown_but_not_judged(tmp_path, capsys):
    a, b = pair(tmp_path, {**METRICS, "turn_ms_p50": 5000.0})
    record = json.loads((b / "result.json").read_text())
    record["cells"][0]["cache"] = {"hits": 8, "misses": 2}
    (b / "result.json").write_text(json.dumps(record))
    assert compare_command(a, b) == 0
    out = capsys.readouterr().out
    assert "replayed from the cache, latency shown but not judged" in out
    record["cells"][0]["cache"] = {"hits": 0, "misses": 10}
    (b / "result.json").write_text(json.dumps(record))
    assert compare_command(a, b) == 1
