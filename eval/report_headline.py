"""The first screen of an eval report: the suite's headline metrics per cell, each against its threshold and
against the baseline run's matching cell, with the change and a bootstrap interval; and the verdict: which cell is
best on the first headline metric, by how much over the runner-up, and whether that is beyond the noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from eval.report_record import CellRecord, RunRecord, format_value, is_number, threshold_text
from eval.significance import LEVEL, Difference, compare_cases


@dataclass
class MetricView:
    """One headline metric of one cell."""

    value: float | None
    bound: str | None = None
    failing: bool = False
    baseline: float | None = None
    change: Difference | None = None


@dataclass
class CellView:
    """One row of the headline table."""

    cell: CellRecord
    metrics: dict[str, MetricView]
    baseline_label: str | None = None


@dataclass
class Verdict:
    """Which cell is best on the first headline metric and how sure that is."""

    metric: str
    best: CellRecord
    value: float
    runner_up: CellRecord | None = None
    change: Difference | None = None


@dataclass
class Headline:
    """Everything the first screen shows."""

    metrics: list[str]
    directions: dict[str, str | None]
    rows: list[CellView] = field(default_factory=list)
    verdict: Verdict | None = None
    baseline: RunRecord | None = None


def baseline_cell(cell: CellRecord, run: RunRecord, baseline: RunRecord | None) -> CellRecord | None:
    """The baseline's cell for `cell`: the same (variant, model), or the only cell when both runs have one."""
    if baseline is None:
        return None
    for other in baseline.cells:
        if other.key == cell.key:
            return other
    if len(run.cells) == 1 and len(baseline.cells) == 1:
        return baseline.cells[0]
    return None


def _metric_view(run: RunRecord, cell: CellRecord, name: str, base: CellRecord | None) -> MetricView:
    bounds = run.thresholds_of(cell).get(name)
    value = cell.metrics.get(name)
    view = MetricView(value=value if is_number(value) else None, bound=threshold_text(bounds) if bounds else None)
    if bounds and view.value is not None:
        low, high = bounds.get("min"), bounds.get("max")
        view.failing = (low is not None and view.value < low) or (high is not None and view.value > high)
    if base is not None:
        old = base.metrics.get(name)
        view.baseline = old if is_number(old) else None
        if base.cases and cell.cases:
            view.change = compare_cases(name, base.cases, cell.cases)
    return view


def better(direction: str | None, a: float, b: float) -> bool:
    """Whether a is better than b in this direction (higher unless 'lower')."""
    return a < b if direction == "lower" else a > b


def verdict(run: RunRecord, metric: str, direction: str | None) -> Verdict | None:
    """The best cell on `metric` and its difference from the runner-up (paired over their common cases)."""
    ranked = [c for c in run.cells if not c.error and is_number(c.metrics.get(metric))]
    if not ranked:
        return None
    ranked.sort(key=lambda c: c.metrics[metric], reverse=direction != "lower")
    best = ranked[0]
    if len(ranked) == 1:
        return Verdict(metric, best, best.metrics[metric])
    runner = ranked[1]
    change = compare_cases(metric, runner.cases, best.cases) if runner.cases and best.cases else None
    return Verdict(metric, best, best.metrics[metric], runner, change)


def build_headline(run: RunRecord, baseline: RunRecord | None = None) -> Headline:
    """The first screen's content for a run (and its baseline run, if any)."""
    names = run.headline_metrics()
    view = Headline(metrics=names, directions={n: run.direction(n) for n in names}, baseline=baseline)
    for cell in run.cells:
        base = baseline_cell(cell, run, baseline)
        view.rows.append(CellView(cell, {n: _metric_view(run, cell, n, base) for n in names},
                                  base.label if base is not None else None))
    if names:
        view.verdict = verdict(run, names[0], view.directions[names[0]])
    if baseline is None and view.verdict is not None and view.verdict.runner_up is not None:
        _against_best(view)
    return view


def _against_best(view: Headline) -> None:
    """Without a baseline run, each other cell's change is shown against the best cell (paired over cases)."""
    best = view.verdict.best
    for row in view.rows:
        if row.cell is best or row.cell.error or not row.cell.cases or not best.cases:
            continue
        for name, metric in row.metrics.items():
            old = best.metrics.get(name)
            metric.baseline = old if is_number(old) else None
            metric.change = compare_cases(name, best.cases, row.cell.cases)


def signed(value: float) -> str:
    """A change with its sign, three decimals below 1 and one digit below 0.001 (+0.012, −0.0008, −3.4)."""
    size = abs(value)
    text = f"{size:.3f}" if 0.001 <= size < 1 else f"{size:.1g}" if 0 < size < 0.001 else format_value(size)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def interval_text(change: Difference) -> str:
    """'95 % interval −0.01 to +0.03, paired over 68 cases'."""
    how = "paired" if change.paired else "unpaired"
    return (f"{LEVEL:.0%} interval {signed(change.low)} to {signed(change.high)}, {how} bootstrap over "
            f"{change.cases} cases")


def judgement(change: Difference, direction: str | None) -> str:
    """'better', 'worse' or 'within noise'."""
    if not change.significant:
        return "within noise"
    return "better" if better(direction, change.delta, 0.0) else "worse"


def verdict_text(view: Headline) -> str:
    """One or two sentences: best cell, margin over the runner-up, significance; baseline standing."""
    v = view.verdict
    if v is None:
        return "No cell has a value for the first headline metric."
    direction = view.directions.get(v.metric)
    text = f"Best on {v.metric}: {v.best.label} ({format_value(v.value)})"
    if v.runner_up is None:
        text += ", the only cell with a value."
    elif v.change is None:
        text += (f", {signed(v.value - v.runner_up.metrics[v.metric])} over {v.runner_up.label} "
                 f"({format_value(v.runner_up.metrics[v.metric])}); no per-case values to test it.")
    else:
        verdict_word = "significant" if v.change.significant else "not significant (within noise)"
        text += (f", {signed(v.change.delta)} over {v.runner_up.label} ({format_value(v.change.a)}): "
                 f"{verdict_word}; {interval_text(v.change)}.")
    row = next((r for r in view.rows if r.cell is v.best), None)
    change = row.metrics[v.metric].change if row else None
    if view.baseline is not None and change is not None and row is not None:
        text += (f" Against the baseline run ({view.baseline.run_id or 'baseline'}): "
                 f"{signed(change.delta)}, {judgement(change, direction)}.")
    return text


def _change_html(metric: MetricView, direction: str | None) -> str:
    change = metric.change
    if change is None:
        if metric.baseline is None:
            return ""
        return f'<div class="vs">vs {escape(format_value(metric.baseline))}</div>'
    word = judgement(change, direction)
    css = {"better": "up", "worse": "down"}.get(word, "same")
    mark = {"better": "▲", "worse": "▼"}.get(word, "≈")
    tip = escape(f"{format_value(change.a)} → {format_value(change.b)}; {interval_text(change)}")
    return (f'<div class="vs {css}" title="{tip}">{mark} {escape(signed(change.delta))} '
            f'<span class="ci">[{escape(signed(change.low))}, {escape(signed(change.high))}]</span></div>')


def headline_html(view: Headline) -> str:
    """The verdict and the headline table (cells x headline metrics)."""
    if not view.rows:
        return '<p id="verdict">No cells in this run.</p>'
    arrows = {"higher": " ↑", "lower": " ↓"}
    head = "".join(f'<th class="num">{escape(n)}{arrows.get(view.directions[n] or "", "")}</th>'
                   for n in view.metrics)
    best = view.verdict.best if view.verdict else None
    rows = []
    for row in view.rows:
        name = f"<b>{escape(row.cell.variant)}</b>" if row.cell is best else escape(row.cell.variant)
        model = "" if row.cell.model == "none" else f' <span class="muted">{escape(row.cell.model)}</span>'
        tds = [f'<td class="cell">{name}{model}</td>']
        for n in view.metrics:
            m = row.metrics[n]
            mark = "" if m.bound is None else (' <span class="bad">✗</span>' if m.failing else
                                               ' <span class="ok">✓</span>')
            bound = f'<div class="bound">{escape(m.bound)}</div>' if m.bound else ""
            tds.append(f'<td class="num{" bad" if m.failing else ""}" data-metric="{escape(n)}">'
                       f"{escape(format_value(m.value))}{mark}{bound}{_change_html(m, view.directions[n])}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    note = ("▲ better / ▼ worse than the baseline beyond the noise, ≈ within it; [interval] of the change "
            f"({LEVEL:.0%}, bootstrap over cases); ✓ / ✗ the threshold below the value.")
    if view.baseline is None:
        note = ("No baseline run (pass --baseline RUN_DIR, or run the suite again): each cell against the best "
                f"cell — ▲ better / ▼ worse beyond the noise, ≈ within it; [interval] ({LEVEL:.0%}, paired "
                "bootstrap over cases); ✓ / ✗ the threshold below the value.")
    return (f'<p id="verdict">{escape(verdict_text(view))}</p>'
            f'<table id="headline"><thead><tr><th>cell</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'</table><p class="muted">{escape(note)}</p>')


def headline_markdown(view: Headline) -> list[str]:
    """The verdict and the headline table as Markdown lines (escaping is the caller's `md`)."""
    from eval.report import md

    if not view.rows:
        return ["No cells in this run."]
    lines = [md(verdict_text(view), None), "", "| cell | " + " | ".join(md(n) for n in view.metrics) + " |",
             "|---" * (len(view.metrics) + 1) + "|"]
    for row in view.rows:
        values = []
        for n in view.metrics:
            m = row.metrics[n]
            text = format_value(m.value) + (" ✗" if m.failing else "")
            if m.change is not None:
                text += f" ({signed(m.change.delta)} [{signed(m.change.low)}, {signed(m.change.high)}])"
            values.append(md(text))
        lines.append(f"| {md(row.cell.label)} | " + " | ".join(values) + " |")
    return lines
