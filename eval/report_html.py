"""The HTML eval report: one self-contained UTF-8 file (inline CSS, inline SVG plots, a little inline JS).

Nothing is loaded from anywhere: a Content-Security-Policy forbids every external resource and allows only
this file's own script (by hash), so case text could never run even if a browser misread it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from html import escape
from pathlib import Path

from eval.plots import bar_chart, box_plot, confusion_counts, legend
from eval.report import prompt_set_digest
from eval.report_breakdowns import all_metrics_html, breakdown_html, breakdown_metric_names, breakdowns
from eval.report_cases import FILTER_SCRIPT, case_diffs, case_table
from eval.report_headline import Headline, baseline_cell, build_headline, headline_html
from eval.report_record import (
    CellRecord,
    RunRecord,
    as_pretty,
    format_value,
    is_number,
    threshold_failure_texts,
    threshold_text,
)

STYLE = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Noto Sans CJK SC",
"Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222;line-height:1.4}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h4{margin:8px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;
vertical-align:top;text-align:left}th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.bad{background:#fde2e1;font-weight:600}td.pass{color:#1a7f37}td.fail{color:#b42318;background:#fff4f2}
td.error{color:#8a4b00;background:#fff8e1}td.missing{color:#999}td.input{max-width:420px}
ul.why{margin:2px 0 0 16px;padding:0;font-size:12px;color:#555}.ms{color:#777;font-size:11px}
pre{background:#f7f7f7;padding:6px;white-space:pre-wrap;word-break:break-all;font-size:12px;max-width:900px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart text{fill:#333;font-family:inherit}
.chart .grid{stroke:#e5e5e5}.chart .threshold{stroke:#b42318;stroke-dasharray:5 3;stroke-width:1.5}
.chart .whisker{stroke:#555}.chart .median{stroke:#111;stroke-width:2}
.legend{margin:6px 0}.key{margin-right:14px;font-size:13px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.muted{color:#777;font-size:13px}.controls{margin:8px 0}
.diff{border-left:3px solid #ddd;padding-left:10px;margin:12px 0}.add{color:#1a7f37}.del{color:#b42318}
.hunk{color:#777}tr.differs td{background:#fff8e1;font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}
dd{margin:0}.wide{overflow-x:auto;max-width:100%}
body{max-width:1232px}h1{margin:0 0 4px}p.meta{margin:0 0 8px;color:#555;font-size:13px}
#verdict{font-size:15px;margin:6px 0 8px;padding:8px 10px;background:#f3f7fb;border-left:4px solid #4e79a7}
#headline{font-size:14px}#headline td{min-width:90px}#headline td.cell{max-width:360px;word-break:break-word}
#headline .bound{font-size:11px;color:#777}.vs{font-size:12px;white-space:nowrap}.vs.up{color:#1a7f37}
.vs.down{color:#b42318}.vs.same{color:#777}.ci{color:#777}.ok{color:#1a7f37}span.bad{color:#b42318}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}.chart{max-width:100%;height:auto}
"""


def csp(script: str) -> str:
    """A policy that allows inline styles, data: images and exactly this script; nothing external."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def header(run: RunRecord) -> str:
    """Suite, data and digest, time, models and variants as a definition list."""
    suite = run.suite
    variants = {c.variant: c.variant_file for c in run.cells}
    rows = [
        ("Suite", f"{suite.name} (kind {suite.kind or '—'}, file {suite.file or '—'})"),
        ("Data", f"{suite.data or '—'} (sha256 {suite.data_sha256 or '—'}, "
                 f"{format_value(suite.cases)} cases)"),
        ("Created", run.created or "—"),
        ("Models", ", ".join(dict.fromkeys(c.model for c in run.cells)) or "—"),
        ("Variants", ", ".join(v + (f" ({f})" if f else "") for v, f in variants.items()) or "—"),
        ("Thresholds", "; ".join(f"{k} {threshold_text(b)}" for k, b in suite.thresholds.items()) or "—"),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def threshold_failures(run: RunRecord) -> str:
    """Threshold failures per cell (as recorded, plus any the suite thresholds show)."""
    items = [f"<li>{escape(cell.label)}: {escape(f)}</li>" for cell in run.cells
             for f in threshold_failure_texts(cell, run.thresholds_of(cell))]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>None.</p>"


def metric_charts(run: RunRecord, view: Headline) -> str:
    """A grouped bar chart per headline metric comparing the cells (x = variant, a bar per model, and the
    baseline run's matching cell beside each when there is one); nothing for a single cell without a baseline."""
    if len(run.cells) < 2 and view.baseline is None:
        return '<p class="muted">One cell and no baseline: nothing to compare in a chart.</p>'
    variants = list(dict.fromkeys(c.variant for c in run.cells))
    models = list(dict.fromkeys(c.model for c in run.cells))
    series = models + ([f"{m} (baseline)" for m in models] if view.baseline is not None else [])
    charts = []
    for name in view.metrics:
        values: dict[tuple[str, str], float | None] = {}
        for cell in run.cells:
            if is_number(cell.metrics.get(name)):
                values[cell.key] = cell.metrics[name]
            base = baseline_cell(cell, run, view.baseline)
            if base is not None and is_number(base.metrics.get(name)):
                values[(cell.variant, f"{cell.model} (baseline)")] = base.metrics[name]
        if not values:
            continue
        bounds = run.suite.thresholds.get(name, {})
        reference = bounds.get("min") if bounds.get("min") is not None else bounds.get("max")
        charts.append(bar_chart(name, variants, series, values, reference))
    if not charts:
        return "<p>No headline metric has a value to plot.</p>"
    drawn = any(run.suite.thresholds.get(n) for n in view.metrics)
    note = '<p class="muted">Dashed red line: the suite threshold.</p>' if drawn else ""
    return legend(series) + f'<div class="charts">{"".join(charts)}</div>' + note


def latency_section(run: RunRecord) -> str:
    """Box plot of per-case latency in each cell."""
    rows = [(c.label, [x.latency_ms for x in c.cases if x.latency_ms is not None]) for c in run.cells]
    if not any(values for _, values in rows):
        return "<p>No per-case latency recorded.</p>"
    missing = [label for label, values in rows if not values]
    note = (f'<p class="muted">No latency recorded for: {escape(", ".join(missing))}.</p>' if missing else "")
    return (box_plot("latency per case (ms)", rows) + note
            + '<p class="muted">Box: 25th–75th percentile; thick line: median; short tick: p95; whiskers: '
              "min–max.</p>")


def confusion_table(cell: CellRecord) -> str:
    """Expected (rows) × predicted (columns) counts for the cell's labelled cases, or '' when none."""
    labels, counts = confusion_counts(cell.cases)
    if not counts:
        return ""
    peak = max(counts.values())
    head = "".join(f"<th>{escape(p)}</th>" for p in labels)
    rows = []
    for expected in labels:
        tds = []
        for predicted in labels:
            n = counts.get((expected, predicted), 0)
            hue = "26,127,55" if expected == predicted else "180,35,24"
            style = f' style="background:rgba({hue},{0.1 + 0.6 * n / peak:.2f})"' if n else ""
            tds.append(f'<td class="num" data-expected="{escape(expected)}" '
                       f'data-predicted="{escape(predicted)}"{style}>{n}</td>')
        rows.append(f"<tr><th>{escape(expected)}</th>{''.join(tds)}</tr>")
    correct = sum(n for (e, p), n in counts.items() if e == p)
    return (f"<h3>{escape(cell.label)}</h3><p class=\"muted\">{correct} of {sum(counts.values())} "
            "labelled cases on the diagonal; rows = expected, columns = predicted.</p>"
            f'<table class="confusion"><thead><tr><th>expected \\ predicted</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def prompt_hash_rows(cells: list[CellRecord], templates: list[str]) -> str:
    """Each cell's whole-prompt-set digest, then one row per template (highlighted where cells differ)."""
    rows = ["<tr><th>whole prompt set</th>" + "".join(
        f"<td><code>{prompt_set_digest(c.prompt_hashes)}</code></td>" for c in cells) + "</tr>"]
    for template in templates:
        digests = [c.prompt_hashes.get(template, "—") for c in cells]
        marker = ' class="differs"' if len(set(digests)) > 1 else ""
        rows.append(f"<tr{marker}><td>{escape(template)}</td>"
                    + "".join(f"<td><code>{escape(d[:12])}</code></td>" for d in digests) + "</tr>")
    return "".join(rows)


def small_tables(run: RunRecord) -> str:
    """Other (non-numeric) results, cache use and prompt template hashes per cell."""
    cache_rows = []
    for cell in run.cells:
        rate = cell.cache_hit_rate()
        cache_rows.append(f"<tr><td>{escape(cell.label)}</td><td class=\"num\">"
                          f"{escape(format_value(cell.cache.get('hits')))}</td><td class=\"num\">"
                          f"{escape(format_value(cell.cache.get('misses')))}</td><td class=\"num\">"
                          f"{'—' if rate is None else f'{rate:.0%}'}</td><td class=\"num\">"
                          f"{escape(format_value(cell.duration_s))}</td></tr>")
    templates = sorted({t for c in run.cells for t in c.prompt_hashes})
    hash_rows = prompt_hash_rows(run.cells, templates)
    cells_head = "".join(f"<th>{escape(c.label)}</th>" for c in run.cells)
    hashes = (f"<table><thead><tr><th>template</th>{cells_head}</tr></thead><tbody>{hash_rows}</tbody>"
              "</table>" if templates else "<p>No prompt hashes recorded.</p>")
    details = "".join(f"<details><summary>{escape(c.label)}: other results</summary>"
                      f"<pre>{escape(as_pretty(c.details))}</pre></details>" for c in run.cells if c.details)
    return (details + "<h3>Cache and duration</h3><table><thead><tr><th>cell</th><th>hits</th><th>misses</th>"
            f"<th>hit rate</th><th>duration s</th></tr></thead><tbody>{''.join(cache_rows)}</tbody></table>"
            f"<h3>Prompt template hashes</h3>{hashes}")


def meta_line(run: RunRecord, baseline: RunRecord | None, baseline_dir: Path | None, here: Path | None) -> str:
    """Suite, cases, data digest, time and the baseline run (linked to its report)."""
    suite = run.suite
    parts = [f"{suite.name} ({suite.kind or '—'})", f"{format_value(suite.cases)} cases",
             f"data {(suite.data_sha256 or '—')[:12]}", run.created or "—"]
    text = " · ".join(escape(p) for p in parts)
    if baseline is None:
        return f'<p class="meta">{text} · no baseline run</p>'
    name = escape(baseline.run_id or "baseline")
    link = name
    if baseline_dir is not None:
        target = baseline_dir / "report.html"
        href = os.path.relpath(target, here) if here is not None else str(target)
        link = f'<a id="baseline-link" href="{escape(Path(href).as_posix())}">{name}</a>'
    same = "" if baseline.suite.data_sha256 == suite.data_sha256 else " (other data)"
    return f'<p class="meta">{text} · compared with {link}{escape(same)}</p>'


def detail_section(run: RunRecord) -> str:
    """Everything behind <details>: all metrics, breakdowns, confusion matrices, run facts."""
    tables = breakdowns(run)
    confusion = "".join(confusion_table(c) for c in run.cells)
    parts = ["<details><summary>All metrics and threshold failures</summary>"
             f'<div class="wide">{all_metrics_html(run, breakdown_metric_names(tables))}</div>'
             f"<h3>Threshold failures</h3>{threshold_failures(run)}</details>"]
    parts += [breakdown_html(t, run.cells) for t in tables]
    if confusion:
        parts.append(f'<details><summary>Confusion matrix</summary><div class="wide">{confusion}</div></details>')
    parts.append(f"<details><summary>Run: data, models, variants, cache and prompts</summary>{header(run)}"
                 f'<div class="wide">{small_tables(run)}</div></details>')
    return "".join(parts)


def render_html(run: RunRecord, baseline: RunRecord | None = None, baseline_dir: Path | None = None,
                here: Path | None = None) -> str:
    """The whole report as one HTML document: the headline first, detail on demand below."""
    title = f"Eval report: {run.suite.name}" + (f" — {run.run_id}" if run.run_id else "")
    view = build_headline(run, baseline)
    sections = [
        ("Cells compared", metric_charts(run, view) + latency_section(run)),
        ("Detail", detail_section(run)),
        ("Cases", f"<details><summary>Every case, with its status in each cell</summary>"
                  f'<div class="wide">{case_table(run.cells)}</div></details>'),
        ("Differences between cells", f"<details><summary>Outputs that differ between cells</summary>"
                                      f"{case_diffs(run.cells)}</details>"),
    ]
    body = "".join(f'<section id="{escape(name.lower().replace(" ", "-"))}"><h2>{escape(name)}</h2>{html}'
                   "</section>" for name, html in sections)
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp(FILTER_SCRIPT)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"{meta_line(run, baseline, baseline_dir, here)}<section id=\"first-screen\">{headline_html(view)}"
            f"</section>{body}<script>{FILTER_SCRIPT}</script></body></html>\n")
