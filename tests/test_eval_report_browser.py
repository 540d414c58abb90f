"""The HTML eval report in a real headless Chromium at 1280 x 800: a two-cell report with a baseline run shows its
verdict and headline table on the first screen, never scrolls sideways (also with every detail opened), and runs
without a console error."""

from pathlib import Path

import pytest
from eval_records import run, write

from eval.report import write_reports

SLOTS = ("category", "brand", "color", "size", "gender", "price_min", "price_max", "currency", "exclude_colors",
         "exclude_brands", "rest")


def attribute_cell(variant: str, model: str, right_every: int, latency: float) -> dict:
    """An attributes-like cell: 120 cases with per-case slot counts, every per-slot metric as its own number."""
    cases, tp, fp, fn = [], 0, 0, 0
    for i in range(120):
        ok = i % right_every != 0
        counts = {"slot_tp": 2 if ok else 1, "slot_fp": 0 if ok else 1, "slot_fn": 0 if ok else 1}
        tp, fp, fn = tp + counts["slot_tp"], fp + counts["slot_fp"], fn + counts["slot_fn"]
        cases.append({"id": f"q{i:03d}", "passed": ok, "error": None, "scores": {"brand": ok, **counts},
                      "latency_ms": latency + (i % 7), "input": f"蓝色T恤 {i}元以内 nike running shoes size 42",
                      "expected": {"brand": "nike"}, "output": {"brand": "nike" if ok else "adidas"},
                      "labels": {"lang": "zh" if i % 2 else "en"},
                      "failures": [] if ok else ["brand: 'adidas' != 'nike'"]})
    metrics = {"slot_f1": round(2 * tp / (2 * tp + fp + fn), 4), "exact_match": round(sum(
        c["passed"] for c in cases) / 120, 4), "p95_ms": latency + 6, "queries": 120, "failed": 0}
    for n, slot in enumerate(SLOTS):
        metrics.update({f"{slot}_precision": 0.9 - n / 100, f"{slot}_recall": 0.8 + n / 100,
                        f"{slot}_f1": 0.85, f"{slot}_support": 40 + n})
    metrics.update({"slot_f1_zh": 0.9, "slot_f1_en": 0.88, "exact_match_zh": 0.8, "exact_match_en": 0.7})
    return {"variant": variant, "variant_file": None, "model": model, "model_info": {}, "prompt_hashes": {},
            "duration_s": 3.0, "cache": {"hits": 0, "misses": 0}, "metrics": metrics, "threshold_failures": [],
            "details": {"per_label_f1": {"search": 0.9, "compare": 0.7}}, "cases": cases}


def two_cell_record(run_id: str, right_every: tuple[int, int]) -> dict:
    """Two rows of a suite with long names, as a real attributes run records them."""
    record = run([attribute_cell("default_fast_path_with_every_stage", "none", right_every[0], 1.5),
                  attribute_cell("plain_parser_without_lexicon_expansion", "none", right_every[1], 0.9)],
                 suite="attributes_challenge", run_id=run_id)
    record["suite"].update({"kind": "attributes", "headline": ["slot_f1", "exact_match", "p95_ms"],
                            "thresholds": {"slot_f1": {"min": 0.9}, "failed": {"max": 0}}, "cases": 120})
    return record


@pytest.mark.integration
def test_the_report_first_screen_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright
    from ui_driver import CHROMIUM, open_browser

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh installs it)")
    base = write(tmp_path / "runs" / "base", two_cell_record("20261206-101500-attributes_challenge", (4, 3)))
    new = write(tmp_path / "runs" / "new", two_cell_record("20261207-101500-attributes_challenge", (9, 3)))
    write_reports(base)
    page_path = write_reports(new, base)["html"]
    with sync_playwright() as pw:
        context, requested, blocked = open_browser(pw, tmp_path / "chromium-profile")
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_viewport_size({"width": 1280, "height": 800})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")

            verdict = page.locator("#verdict").inner_text()
            assert verdict.startswith("Best on slot_f1: default_fast_path_with_every_stage × none")
            assert "significant" in verdict and "Against the baseline run (20261206-101500-" in verdict
            table = page.locator("#headline").bounding_box()
            assert table is not None and table["y"] >= 0 and table["y"] + table["height"] <= 800, table
            assert page.locator("#headline tbody tr").count() == 2
            assert page.locator("#headline .vs").count() == 6  # every headline value against the baseline
            assert page.locator("#baseline-link").get_attribute("href") == "../base/report.html"

            def sideways() -> int:
                return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert sideways() <= 0
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert page.locator("details.breakdown").count() >= 3  # per slot, per language, per label
            assert sideways() <= 0
            for label in page.locator("svg.chart text").all()[:40]:  # chart labels are inside their chart
                box, chart = label.bounding_box(), label.locator("xpath=ancestor::*[name()='svg'][1]")
                frame = chart.bounding_box()
                assert box and frame and box["x"] >= frame["x"] - 1 and box["x"] + box["width"] <= \
                    frame["x"] + frame["width"] + 1, (label.text_content(), box, frame)
            assert problems == [] and blocked == []
            assert all(url.startswith("file://") for url in requested)
        finally:
            context.close()
