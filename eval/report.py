"""Eval run reports: `report.md` and a self-contained `report.html` written next to a run's result.json.

    .venv/bin/python -m eval.report RUN_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import html
import re
import sys
from pathlib import Path

from eval.report_record import (
    CellRecord,
    RunRecord,
    RunRecordError,
    as_text,
    failing_metrics,
    format_value,
    load_run,
    result_path,
    threshold_failure_texts,
    threshold_text,
)

MAX_FAILING_CASES = 50  # per cell in the Markdown report; the HTML report lists every case
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(value: object, limit: int | None = 200) -> str:
    """Untrusted text made inert inside Markdown (and any HTML a Markdown renderer lets through)."""
    text = html.escape(as_text(value, limit), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def direction_mark(direction: str | None) -> str:
    """↑ when higher is better, ↓ when lower is better, nothing for run facts."""
    return {"higher": " ↑", "lower": " ↓"}.get(direction or "", "")


def header_lines(run: RunRecord) -> list[str]:
    """What was run: suite, data and digest, time, models, variants."""
    suite = run.suite
    variants = {c.variant: c.variant_file for c in run.cells}
    lines = [
        f"- Suite: {md(suite.name)} (kind {md(suite.kind or '—')}, file {md(suite.file or '—')})",
        f"- Data: {md(suite.data or '—')} (sha256 {md(suite.data_sha256 or '—')}, "
        f"{format_value(suite.cases)} cases)",
        f"- Created: {md(run.created or '—')}",
        f"- Models: {', '.join(md(m) for m in dict.fromkeys(c.model for c in run.cells)) or '—'}",
        "- Variants: " + (", ".join(md(v) + (f" ({md(f)})" if f else "") for v, f in variants.items())
                          or "—"),
    ]
    if suite.thresholds:
        bounds = (f"{md(k)} {threshold_text(b)}" for k, b in suite.thresholds.items())
        lines.append("- Thresholds: " + "; ".join(bounds))
    return lines


def prompt_set_digest(hashes: dict[str, str]) -> str:
    """One short digest of a cell's whole prompt set: equal digests mean identical templates."""
    text = "\n".join(f"{name}={digest}" for name, digest in sorted(hashes.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def prompt_hash_table(run: RunRecord) -> list[str]:
    """A digest of each variant's prompt set, then the templates whose text differs between variants."""
    by_variant: dict[str, dict[str, str]] = {}
    for cell in run.cells:
        by_variant.setdefault(cell.variant, {}).update(cell.prompt_hashes)
    if not any(by_variant.values()):
        return ["No prompt hashes recorded."]
    lines = [f"- {md(v)}: {len(h)} templates, prompt set {prompt_set_digest(h)}"
             for v, h in by_variant.items()]
    templates = sorted({t for hashes in by_variant.values() for t in hashes})
    differing = [t for t in templates if len({h.get(t) for h in by_variant.values()}) > 1]
    if len(by_variant) < 2:
        return lines + ["", "Every template hash is listed in report.html."]
    if not differing:
        return lines + ["", "Every template is identical across variants."]
    variants = list(by_variant)
    lines += ["", f"Templates that differ between variants ({len(differing)} of {len(templates)}):", "",
              "| template | " + " | ".join(md(v) for v in variants) + " |",
              "|---" * (len(variants) + 1) + "|"]
    lines += [f"| {md(t)} | " + " | ".join(md(by_variant[v].get(t, "—")[:12]) for v in variants) + " |"
              for t in differing]
    return lines


def metric_table(run: RunRecord, leave_out: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Rows = cells, columns = metrics (but those of the breakdowns); a metric failing its threshold is shown as
    **value ✗**."""
    names = [n for n in run.metric_names() if n not in leave_out]
    head = ["variant", "model", "pass", "fail", "error"] + [md(n) + direction_mark(run.direction(n))
                                                                 for n in names]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for cell in run.cells:
        failing = failing_metrics(cell, run.thresholds_of(cell))
        tally = cell.tally()
        row = [md(cell.variant), md(cell.model), str(tally["pass"]), str(tally["fail"]), str(tally["error"])]
        for name in names:
            value = format_value(cell.metrics.get(name))
            row.append(f"**{value} ✗**" if name in failing else value)
        lines.append("| " + " | ".join(row) + " |")
    return lines


def threshold_lines(run: RunRecord) -> list[str]:
    """Every threshold failure, per cell."""
    lines = [f"- {md(cell.label)}: {md(f)}" for cell in run.cells
             for f in threshold_failure_texts(cell, run.thresholds_of(cell))]
    return lines or ["None."]


def cache_table(run: RunRecord) -> list[str]:
    """Cache hits and misses per cell."""
    lines = ["| variant | model | hits | misses | hit rate |", "|---|---|---|---|---|"]
    for cell in run.cells:
        rate = cell.cache_hit_rate()
        lines.append(f"| {md(cell.variant)} | {md(cell.model)} | {format_value(cell.cache.get('hits'))} | "
                     f"{format_value(cell.cache.get('misses'))} | {'—' if rate is None else f'{rate:.0%}'} |")
    return lines


def failing_case_lines(cell: CellRecord) -> list[str]:
    """The failed and errored cases of one cell, with why."""
    bad = [c for c in cell.cases if not c.passed]
    if cell.error:
        return [f"The cell could not run: {md(cell.error, 500)}"]
    if not cell.cases:
        return ["No cases recorded."]
    if not bad:
        return [f"All {len(cell.cases)} cases passed."]
    lines = []
    for case in bad[:MAX_FAILING_CASES]:
        why = [f"error: {case.error}"] if case.error else []
        why += case.failures or ([] if case.error else ["failed (no reason recorded)"])
        lines.append(f"- `{md(case.id, 80).replace('`', '')}` {md(as_text(case.input, 80))} — "
                     + "; ".join(md(w, 300) for w in why))
    if len(bad) > MAX_FAILING_CASES:
        lines.append(f"- … and {len(bad) - MAX_FAILING_CASES} more (see report.html)")
    return lines


def render_markdown(run: RunRecord, baseline: RunRecord | None = None) -> str:
    """The whole Markdown report."""
    from eval.report_breakdowns import breakdown_markdown, breakdown_metric_names, breakdowns
    from eval.report_headline import build_headline, headline_markdown

    title = f"# Eval report: {md(run.suite.name)}" + (f" — {md(run.run_id)}" if run.run_id else "")
    compared = f"- Compared with: {md(baseline.run_id or 'baseline')}" if baseline is not None else \
        "- Compared with: no baseline run"
    parts = [title, "", *header_lines(run), compared, "", "## Headline", "",
             *headline_markdown(build_headline(run, baseline)), "", "## Metrics", ""]
    tables = breakdowns(run)
    parts += metric_table(run, breakdown_metric_names(tables)) if run.cells else ["No cells in this run."]
    parts += ["", "pass / fail / error: cases per outcome; ↑ higher is better, ↓ lower is better; "
              "**value ✗** fails its threshold.", ""]
    if tables:
        parts += ["## Breakdowns", ""] + [line for t in tables for line in breakdown_markdown(t, run.cells)]
    parts += ["## Threshold failures", "", *threshold_lines(run), "", "## Prompt hashes", "",
              *prompt_hash_table(run), "", "## Cache", "", *cache_table(run), "", "## Failing cases"]
    for cell in run.cells:
        parts += ["", f"### {md(cell.label)}", "", *failing_case_lines(cell)]
    return "\n".join(parts) + "\n"


def baseline_of(run: RunRecord, source: Path, baseline: Path | None = None) -> tuple[RunRecord | None, Path | None]:
    """The baseline run (given, else the one the record names) and its folder; (None, None) when there is none
    or it cannot be read (said on stderr)."""
    if baseline is None and run.baseline and run.baseline.get("path"):
        baseline = Path(str(run.baseline["path"]))
        if not baseline.is_absolute():
            baseline = source.parent / baseline
    if baseline is None:
        return None, None
    try:
        file = result_path(baseline)
        return load_run(file), file.parent
    except RunRecordError as exc:
        print(f"(baseline not shown: {exc})", file=sys.stderr)
        return None, None


def write_reports(run_dir: Path, baseline: Path | None = None) -> dict[str, Path]:
    """Write report.md and report.html next to RUN_DIR/result.json, compared with `baseline` (a run folder) or
    the baseline the record names; returns {'markdown': …, 'html': …}."""
    from eval.report_html import render_html

    source = result_path(Path(run_dir))
    run = load_run(source)
    base, base_dir = baseline_of(run, source, baseline)
    paths = {"markdown": source.parent / "report.md", "html": source.parent / "report.html"}
    paths["markdown"].write_text(render_markdown(run, base), encoding="utf-8")
    paths["html"].write_text(render_html(run, base, base_dir, source.parent), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    """python -m eval.report RUN_DIR: (re)write a run's reports and print where they are."""
    parser = argparse.ArgumentParser(prog="python -m eval.report",
                                     description="Write report.md and report.html for an eval run directory "
                                                 "(or its result.json).")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--baseline", type=Path, default=None, metavar="RUN_DIR",
                        help="compare with this run (default: the baseline the run record names, if any)")
    args = parser.parse_args(argv)
    try:
        paths = write_reports(args.run_dir, args.baseline)
    except (RunRecordError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
