"""Bootstrap intervals of eval reports: metrics rebuilt from case records, paired and unpaired resampling, and the
headline verdict that uses them."""

import numpy as np
import pytest
from eval_records import case, cell, run, write

from eval.report import write_reports
from eval.report_headline import build_headline, signed, verdict_text
from eval.report_record import RecordedCase, parse_run
from eval.significance import Estimator, compare_cases, estimator, paired_bootstrap, unpaired_bootstrap


def records(values: dict[str, list], latency: list[float] | None = None, passed: list[bool] | None = None,
            prefix: str = "q") -> list[RecordedCase]:
    """Case records with the given per-case scores (and latencies / outcomes)."""
    n = len(next(iter(values.values())))
    return [RecordedCase(id=f"{prefix}{i}", passed=passed[i] if passed else True,
                       scores={k: v[i] for k, v in values.items()},
                       latency_ms=latency[i] if latency else 1.0) for i in range(n)]


def test_metrics_are_rebuilt_from_the_case_records():
    cases = records({"ndcg@10": [1.0, 0.5, 0.0, 0.25], "slot_tp": [2, 1, 0, 1], "slot_fp": [0, 1, 1, 0],
                     "slot_fn": [0, 1, 2, 0], "exact": [True, False, False, True]},
                    latency=[10.0, 20.0, 30.0, 400.0], passed=[True, False, False, True])
    assert estimator("ndcg@10", cases).value() == pytest.approx(0.4375)
    assert estimator("pass_rate", cases).value() == pytest.approx(0.5)
    assert estimator("accuracy", cases).value() == pytest.approx(0.5)  # from the spelling suite's `exact`
    assert estimator("slot_f1", cases).value() == pytest.approx(2 * 4 / (2 * 4 + 2 + 3))
    assert estimator("p95_ms", cases).value() == pytest.approx(float(np.percentile([10, 20, 30, 400], 95)))
    assert estimator("macro_f1", cases) is None  # nothing per case to rebuild it from
    assert estimator("p95_ms", [*cases, RecordedCase(id="x", passed=True, latency_ms=None)]) is None


def test_spelling_rates_are_ratios_over_the_right_cases():
    # q0 fixed, q1 wrong fix, q2 error left alone, q3 right and left alone, q4 right but changed
    cases = records({"fixed": [1, 0, 0, 0, 0], "changed": [1, 1, 0, 0, 1], "had_error": [1, 1, 1, 0, 0],
                     "was_right": [0, 0, 0, 1, 1], "false_correction": [0, 0, 0, 0, 1]})
    precision, recall = 1 / 3, 1 / 3
    assert estimator("correction_f1", cases).value() == pytest.approx(2 * precision * recall / (precision + recall))
    assert estimator("false_correction_rate", cases).value() == pytest.approx(0.5)


def test_identical_cells_differ_by_nothing():
    est = Estimator("ratio", np.array([1.0, 0.0, 1.0, 1.0]), np.ones(4))
    diff = paired_bootstrap(est, est, "pass_rate")
    assert (diff.delta, diff.low, diff.high, diff.significant) == (0.0, 0.0, 0.0, False)


def test_a_clear_improvement_is_significant_and_its_interval_holds_the_change():
    rng = np.random.default_rng(1)
    a = (rng.random(300) < 0.5).astype(float)
    b = np.maximum(a, (rng.random(300) < 0.5).astype(float))  # every case passing in a passes in b, more too
    diff = paired_bootstrap(Estimator("ratio", a, np.ones(300)), Estimator("ratio", b, np.ones(300)))
    assert diff.significant and diff.low > 0 and diff.low <= diff.delta <= diff.high
    assert diff.delta == pytest.approx(b.mean() - a.mean())


def test_one_flipped_case_in_forty_is_within_the_noise():
    a = np.array([1.0] * 20 + [0.0] * 20)
    b = a.copy()
    b[25] = 1.0
    diff = paired_bootstrap(Estimator("ratio", a, np.ones(40)), Estimator("ratio", b, np.ones(40)))
    assert diff.delta == pytest.approx(0.025) and not diff.significant and diff.low <= 0 <= diff.high


def test_pairing_removes_the_spread_between_cases():
    """The same small gain on every case: paired it is certain, unpaired it drowns in the spread of the cases."""
    values = np.random.default_rng(2).random(60)
    a, b = Estimator("ratio", values, np.ones(60)), Estimator("ratio", values + 0.01, np.ones(60))
    paired, unpaired = paired_bootstrap(a, b), unpaired_bootstrap(a, b)
    assert paired.significant and paired.low == pytest.approx(0.01) and paired.high == pytest.approx(0.01)
    assert not unpaired.significant and unpaired.high - unpaired.low > 0.1
    assert paired_bootstrap(a, b) == paired  # seeded: the same report every time


def test_latency_quantiles_are_compared_too():
    slow = records({"x": [0] * 50}, latency=[float(v) for v in range(100, 150)])
    fast = records({"x": [0] * 50}, latency=[float(v) for v in range(10, 60)])
    diff = compare_cases("p95_ms", slow, fast)
    assert diff.paired and diff.delta == pytest.approx(-90.0) and diff.significant and diff.high < 0


def test_cases_are_paired_by_id_and_unpaired_when_ids_differ():
    base = records({"ndcg@10": [0.0, 1.0, 0.5, 0.5]})
    subset = list(reversed(records({"ndcg@10": [1.0, 1.0]})))  # ids q1, q0: paired over those two
    diff = compare_cases("ndcg@10", base, subset)
    assert diff.paired and diff.cases == 2 and diff.a == pytest.approx(0.5) and diff.b == pytest.approx(1.0)
    other = records({"ndcg@10": [1.0, 1.0, 1.0]}, prefix="z")
    diff = compare_cases("ndcg@10", base, other)
    assert not diff.paired and diff.a == pytest.approx(0.5) and diff.b == pytest.approx(1.0)
    assert compare_cases("macro_f1", base, other) is None


def _cells(pass_a: list[bool], pass_b: list[bool]) -> list[dict]:
    return [cell("default", metrics={"pass_rate": sum(pass_a) / len(pass_a)},
                 cases=[case(f"c{i}", passed=p) for i, p in enumerate(pass_a)]),
            cell("terse", metrics={"pass_rate": sum(pass_b) / len(pass_b)},
                 cases=[case(f"c{i}", passed=p) for i, p in enumerate(pass_b)])]


def test_the_verdict_names_the_best_cell_the_margin_and_the_significance(tmp_path):
    worse, better = [i % 2 == 0 for i in range(80)], [i % 2 == 0 or i % 3 == 0 for i in range(80)]
    record = run(_cells(worse, better))
    view = build_headline(parse_run(record))
    text = verdict_text(view)
    assert text.startswith("Best on pass_rate: terse × embedded:qwen2.5-coder-0.5b (0.6625), +0.162 over "
                           "default × embedded:qwen2.5-coder-0.5b (0.5): significant; 95% interval +")
    assert "paired bootstrap over 80 cases" in text
    baseline = run(_cells(worse, worse), run_id="20261128-000000-agent")
    base_dir = write(tmp_path / "base", baseline)
    paths = write_reports(write(tmp_path / "new", record), base_dir)
    page = paths["html"].read_text(encoding="utf-8")
    assert 'href="../base/report.html"' in page and "compared with" in page
    assert "Against the baseline run (20261128-000000-agent): +0.162, better." in page
    assert '<div class="vs up"' in page and '<div class="vs same"' in page  # terse improved, default did not
    assert "## Headline" in paths["markdown"].read_text(encoding="utf-8")


def test_a_near_tie_is_reported_as_within_noise():
    a = [i % 2 == 0 for i in range(40)]
    b = list(a)
    b[1] = True
    text = verdict_text(build_headline(parse_run(run(_cells(a, b)))))
    assert "+0.025 over default" in text and "not significant (within noise)" in text


def test_without_a_baseline_each_cell_is_shown_against_the_best():
    worse, better = [i % 2 == 0 for i in range(80)], [i % 2 == 0 or i % 3 == 0 for i in range(80)]
    view = build_headline(parse_run(run(_cells(worse, better))))
    default, terse = view.rows
    change = default.metrics["pass_rate"].change
    assert terse.metrics["pass_rate"].change is None and change.paired and change.significant
    assert change.delta == pytest.approx(0.5 - 0.6625) and default.metrics["pass_rate"].baseline == 0.6625
    from eval.report_headline import headline_html

    page = headline_html(view)
    assert "each cell against the best cell" in page and '<div class="vs down"' in page


def test_changes_are_written_short_whatever_their_size():
    assert [signed(v) for v in (0.01234, -0.00076672, 0.00074, 0.0, -3.4, 2500.0)] == \
        ["+0.012", "−0.0008", "+0.0007", "±0", "−3.4", "+2500"]
