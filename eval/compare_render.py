"""A run comparison as plain text (stdout), Markdown, self-contained HTML or JSON."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from eval.compare import CaseChange, CellComparison, Comparison, MetricDelta
from eval.report import direction_mark, md
from eval.report_html import STYLE
from eval.report_record import format_value

MAX_CASES_SHOWN = 20  # per kind of change on stdout; the Markdown and HTML files list up to MAX_CASES_WRITTEN
MAX_CASES_WRITTEN = 500
VERDICT = {"regression": "REGRESSION", "missing": "REGRESSION (now missing)", "improvement": "improved",
           "new": "new", "unchanged": "", "n/a": "", "info": ""}
CHANGE_NAMES = {"regressed": "regressed", "fixed": "fixed", "new": "new", "missing": "missing",
                "output_changed": "output changed"}


def format_delta(metric: MetricDelta) -> str:
    """'-0.05', '+300 (+33.3%)' or '—'."""
    if metric.delta is None:
        return "—"
    text = f"{'+' if metric.delta > 0 else ''}{format_value(metric.delta)}"
    if metric.kind != "score" and metric.relative is not None:
        text += f" ({metric.relative:+.1%})"
    return text


def rule_text(comparison: Comparison) -> str:
    """The tolerances in words."""
    latency = ("latency not gated" if comparison.latency_threshold is None
               else f"{comparison.latency_threshold:.0%} relative for latency")
    return (f"threshold {format_value(comparison.threshold)} absolute for scores and rates, "
            f"{comparison.threshold:.0%} relative for counts, {latency}")


def _case_line(change: CaseChange) -> str:
    flip = f"{change.old_status or '—'} → {change.new_status or '—'}"
    return f"{change.id}  {flip}" + (f": {change.detail}" if change.detail else "")


def _counts_text(cell: CellComparison) -> str:
    return ", ".join(f"{n} {CHANGE_NAMES[k]}" for k, n in cell.case_counts().items())


def _text_cell(cell: CellComparison) -> list[str]:
    width = max([len(m.name) + 2 for m in cell.metrics] + [8])
    lines = [f"== {cell.label} ==", f"{'metric':<{width}}  {'old':>10}  {'new':>10}  {'delta':>18}  verdict"]
    for m in cell.metrics:
        name = m.name + direction_mark(m.direction)
        lines.append(f"{name:<{width}}  {format_value(m.old):>10}  {format_value(m.new):>10}  "
                     f"{format_delta(m):>18}  {VERDICT[m.status]}".rstrip())
    lines += [f"threshold now failing: {name}" for name in cell.new_threshold_failures]
    lines += [f"cell failed in B: {cell.cell_error}"] if cell.cell_error else []
    lines.append(f"cases: {_counts_text(cell)}")
    for kind in CHANGE_NAMES:
        changes = [c for c in cell.cases if c.change == kind]
        lines += [f"  {CHANGE_NAMES[kind]:<15} {_case_line(c)}"[:240] for c in changes[:MAX_CASES_SHOWN]]
        if len(changes) > MAX_CASES_SHOWN:
            lines.append(f"  … {len(changes) - MAX_CASES_SHOWN} more {CHANGE_NAMES[kind]}")
    return lines


def verdict_text(comparison: Comparison) -> str:
    """The last line: the gate's verdict."""
    if comparison.has_regression:
        return f"RESULT: REGRESSION ({len(comparison.regressions)}): " + "; ".join(comparison.regressions)
    return f"RESULT: no regression ({rule_text(comparison)})"


def render_text(comparison: Comparison) -> str:
    """The readable table printed by `compare`."""
    lines = [f"compare {comparison.suite}: {comparison.run_a} → {comparison.run_b} ({rule_text(comparison)})"]
    lines += [f"warning: {w}" for w in comparison.warnings]
    lines += [f"only in A (not compared): {label}" for label in comparison.only_in_a]
    lines += [f"only in B (not compared): {label}" for label in comparison.only_in_b]
    for cell in comparison.cells:
        lines += ["", *_text_cell(cell)]
    return "\n".join([*lines, "", verdict_text(comparison)])


def _md_cell(cell: CellComparison) -> list[str]:
    lines = [f"## {md(cell.label)}", "", "| metric | old | new | delta | verdict |", "|---|---|---|---|---|"]
    for m in cell.metrics:
        verdict = f"**{VERDICT[m.status]}**" if m.regression else VERDICT[m.status]
        lines.append(f"| {md(m.name)}{direction_mark(m.direction)} | {format_value(m.old)} | "
                     f"{format_value(m.new)} | {format_delta(m)} | {verdict} |")
    lines += ["", *[f"- threshold now failing: {md(n)}" for n in cell.new_threshold_failures],
              *([f"- cell failed in B: {md(cell.cell_error, 500)}"] if cell.cell_error else []),
              f"Cases: {_counts_text(cell)}.", ""]
    if cell.cases:
        lines += ["| case | change | old → new | detail |", "|---|---|---|---|"]
        lines += [f"| {md(c.id, 80)} | {CHANGE_NAMES[c.change]} | {c.old_status or '—'} → "
                  f"{c.new_status or '—'} | {md(c.detail, 300)} |" for c in cell.cases[:MAX_CASES_WRITTEN]]
    return lines


def render_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown document."""
    lines = [f"# Eval comparison: {md(comparison.suite)}", "",
             f"{md(comparison.run_a)} → {md(comparison.run_b)}; {rule_text(comparison)}.", ""]
    lines += [f"- warning: {md(w, 400)}" for w in comparison.warnings]
    lines += [f"- only in A (not compared): {md(x)}" for x in comparison.only_in_a]
    lines += [f"- only in B (not compared): {md(x)}" for x in comparison.only_in_b]
    for cell in comparison.cells:
        lines += ["", *_md_cell(cell)]
    return "\n".join([*lines, "", f"**{md(verdict_text(comparison), 2000)}**"]) + "\n"


def _html_cell(cell: CellComparison) -> str:
    rows = "".join(
        f'<tr class="{m.status}"><td>{escape(m.name + direction_mark(m.direction))}</td>'
        f'<td class="num">{escape(format_value(m.old))}</td>'
        f'<td class="num">{escape(format_value(m.new))}</td>'
        f'<td class="num">{escape(format_delta(m))}</td><td>{escape(VERDICT[m.status])}</td></tr>'
        for m in cell.metrics)
    cases = "".join(
        f'<tr class="{c.change}"><td><code>{escape(c.id)}</code></td>'
        f"<td>{escape(CHANGE_NAMES[c.change])}</td><td>{escape(c.old_status or '—')} → "
        f"{escape(c.new_status or '—')}</td><td>{escape(c.detail)}</td></tr>"
        for c in cell.cases[:MAX_CASES_WRITTEN])
    failing = "".join(f"<li>threshold now failing: {escape(n)}</li>" for n in cell.new_threshold_failures)
    failing += f"<li>cell failed in B: {escape(cell.cell_error)}</li>" if cell.cell_error else ""
    return (f"<section><h2>{escape(cell.label)}</h2><table><thead><tr><th>metric</th><th>old</th><th>new</th>"
            f"<th>delta</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f"<ul>{failing}</ul>" if failing else "")
            + f"<p>Cases: {escape(_counts_text(cell))}.</p>"
            + (f"<table><thead><tr><th>case</th><th>change</th><th>old → new</th><th>detail</th></tr></thead>"
               f"<tbody>{cases}</tbody></table>" if cases else "") + "</section>")


def render_html(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML document (no script, nothing external)."""
    title = f"Eval comparison: {comparison.suite}"
    notes = [f"warning: {w}" for w in comparison.warnings]
    notes += [f"only in A (not compared): {x}" for x in comparison.only_in_a]
    notes += [f"only in B (not compared): {x}" for x in comparison.only_in_b]
    extra = ("tr.regression td,tr.missing td,tr.regressed td{background:#fde2e1}"
             "tr.improvement td,tr.fixed td{background:#e6f4ea}")
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{escape(title)}</title><style>{STYLE}{extra}</style></head><body><h1>{escape(title)}</h1>"
            f"<p>{escape(comparison.run_a)} → {escape(comparison.run_b)}; "
            f"{escape(rule_text(comparison))}.</p>"
            + "".join(f"<p class=\"muted\">{escape(n)}</p>" for n in notes)
            + "".join(_html_cell(c) for c in comparison.cells)
            + f"<h2>Result</h2><p><strong>{escape(verdict_text(comparison))}</strong></p></body></html>\n")


WRITERS: dict[str, Callable[[Comparison], str]] = {
    ".md": render_markdown, ".markdown": render_markdown, ".html": render_html, ".htm": render_html,
    ".json": lambda comparison: comparison.model_dump_json(indent=2) + "\n",
}
