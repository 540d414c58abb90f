"""Detail on demand for eval reports: metrics that belong to a slot, label, language or check are gathered into
compact tables (precision, recall, F1 and support of one slot in one row), one table per kind of breakdown, each
collapsed in a <details>; every other metric goes to one table with a row per metric and a column per cell."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from eval.report_record import CellRecord, RunRecord, failing_metrics, format_value, is_number

PARTS = ("precision", "recall", "f1", "support")
_PART = re.compile(r"^(?P<group>.+)_(?P<part>precision|recall|f1|support)$")
_LANG = re.compile(r"^(?P<metric>.+)_(?P<lang>zh|en)$")
_LABEL = re.compile(r"^(?P<metric>[^\[]+)\[(?P<label>.+)\]$")
_CHECK = re.compile(r"^check_(?P<check>.+)$")


@dataclass
class Breakdown:
    """One table: rows (slot, label, language…) x columns (precision, recall…), a value per cell."""

    title: str
    row_name: str
    columns: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    metrics: set[str] = field(default_factory=set)

    def put(self, row: str, column: str, cell: str, value: float | None, metric: str) -> None:
        """Record one value."""
        if column not in self.columns:
            self.columns.append(column)
        self.rows.setdefault(row, {}).setdefault(column, {})[cell] = value
        self.metrics.add(metric)


def _classify(name: str, groups: dict[str, set[str]]) -> tuple[str, str, str] | None:
    """(table, row, column) for a breakdown metric, None for a plain metric."""
    if match := _LABEL.match(name):
        return f"per label: {match['metric']}", match["label"], match["metric"]
    if match := _LANG.match(name):
        return "per language", match["lang"], match["metric"]
    if match := _CHECK.match(name):
        return "per check", match["check"], "pass rate"
    match = _PART.match(name)
    if match and len(groups.get(match["group"], set())) >= 2:
        table = "per slot" if {"support"} & groups[match["group"]] else "precision / recall / F1"
        return table, match["group"], match["part"]
    return None


def _part_groups(names: list[str]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for name in names:
        if match := _PART.match(name):
            groups.setdefault(match["group"], set()).add(match["part"])
    return groups


def breakdowns(run: RunRecord) -> list[Breakdown]:
    """The breakdown tables of a run, from metric names and from per-label maps among the details."""
    names = run.metric_names()
    groups = _part_groups(names)
    tables: dict[str, Breakdown] = {}
    for cell in run.cells:
        for name, value in cell.numeric_metrics().items():
            where = _classify(name, groups)
            if where is None:
                continue
            table, row, column = where
            tables.setdefault(table, Breakdown(table, table.split()[-1].rstrip(":")))
            tables[table].put(row, column, cell.label, value, name)
        for key, value in cell.details.items():
            if isinstance(value, dict) and value and all(is_number(v) for v in value.values()):
                table = f"per label: {key}"
                for label, number in value.items():
                    tables.setdefault(table, Breakdown(table, "label")).put(str(label), key, cell.label,
                                                                            number, key)
    for table in tables.values():
        table.columns.sort(key=lambda c: PARTS.index(c) if c in PARTS else len(PARTS))
    return list(tables.values())


def breakdown_metric_names(tables: list[Breakdown]) -> set[str]:
    """Every metric shown in a breakdown table (left out of the plain metric table)."""
    return {m for t in tables for m in t.metrics}


def breakdown_html(table: Breakdown, cells: list[CellRecord]) -> str:
    """One collapsed table: a row per slot/label (per slot and cell when the run has several cells)."""
    labels = [c.label for c in cells if any(c.label in v for r in table.rows.values() for v in r.values())]
    many = len(labels) > 1
    head = "".join(f'<th class="num">{escape(col)}</th>' for col in table.columns)
    body = []
    for row, values in table.rows.items():
        for i, lab in enumerate(labels):
            name = f'<th rowspan="{len(labels)}">{escape(row)}</th>' if i == 0 else ""
            cell = f'<td class="muted">{escape(lab)}</td>' if many else ""
            tds = "".join(f'<td class="num">{escape(format_value(values.get(col, {}).get(lab)))}</td>'
                          for col in table.columns)
            body.append(f"<tr>{name}{cell}{tds}</tr>")
    cell_head = "<th>cell</th>" if many else ""
    return (f'<details class="breakdown"><summary>{escape(table.title)} ({len(table.rows)} rows)</summary>'
            f'<div class="wide"><table><thead><tr><th>{escape(table.row_name)}</th>{cell_head}{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div></details>")


def all_metrics_html(run: RunRecord, leave_out: set[str]) -> str:
    """Every other numeric metric: a row per metric, a column per cell; failing thresholds marked ✗."""
    names = [n for n in run.metric_names() if n not in leave_out]
    if not run.cells or not names:
        return "<p>No other metrics.</p>"
    arrows = {"higher": " ↑", "lower": " ↓"}
    failing = {c.label: failing_metrics(c, run.thresholds_of(c)) for c in run.cells}
    tally = {c.label: c.tally() for c in run.cells}
    head = "".join(f"<th>{escape(c.label)}</th>" for c in run.cells)
    rows = [f"<tr><th>{k} (cases)</th>" + "".join(f'<td class="num">{tally[c.label][k]}</td>' for c in run.cells)
            + "</tr>" for k in ("pass", "fail", "error")]
    for name in names:
        tds = []
        for cell in run.cells:
            value = escape(format_value(cell.metrics.get(name)))
            tds.append(f'<td class="num bad" data-metric="{escape(name)}">{value} ✗</td>'
                       if name in failing[cell.label] else
                       f'<td class="num" data-metric="{escape(name)}">{value}</td>')
        rows.append(f"<tr><th>{escape(name)}{arrows.get(run.direction(name) or '', '')}</th>{''.join(tds)}</tr>")
    return (f'<table id="metrics"><thead><tr><th>metric</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table>")


def breakdown_markdown(table: Breakdown, cells: list[CellRecord]) -> list[str]:
    """One breakdown as a Markdown table (a row per slot/label and cell)."""
    from eval.report import md

    labels = [c.label for c in cells if any(c.label in v for r in table.rows.values() for v in r.values())]
    lines = [f"### {md(table.title)}", "", f"| {md(table.row_name)} | cell | "
             + " | ".join(md(c) for c in table.columns) + " |", "|---" * (len(table.columns) + 2) + "|"]
    for row, values in table.rows.items():
        for lab in labels:
            lines.append(f"| {md(row)} | {md(lab)} | " + " | ".join(
                format_value(values.get(col, {}).get(lab)) for col in table.columns) + " |")
    return lines + [""]
