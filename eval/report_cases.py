"""Per-case sections of the HTML eval report: a filterable case table and the differences between cells.

All case content (queries, replies, product titles, failure reasons) is untrusted and escaped here.
"""

from __future__ import annotations

import difflib
from html import escape

from eval.report_record import CellRecord, RecordedCase, as_pretty, as_text, format_value

MAX_DIFF_CASES = 200
STATUS_MARK = {"pass": "✓ pass", "fail": "✗ fail", "error": "⚠ error"}

FILTER_SCRIPT = """(function () {
  var box = document.getElementById("case-filter");
  var failing = document.getElementById("only-failing");
  var differing = document.getElementById("only-differing");
  var count = document.getElementById("case-count");
  if (!box || !failing || !differing || !count) { return; }
  function apply() {
    var words = box.value.toLowerCase().trim();
    var shown = 0;
    document.querySelectorAll("#cases tbody tr").forEach(function (row) {
      var ok = (!words || row.textContent.toLowerCase().indexOf(words) >= 0)
        && (!failing.checked || row.getAttribute("data-fail") === "1")
        && (!differing.checked || row.getAttribute("data-differs") === "1");
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = String(shown);
  }
  [box, failing, differing].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  apply();
})();"""


def text(value: str) -> str:
    """Untrusted text escaped for element content (quotes need no escaping outside attributes)."""
    return escape(value, quote=False)


def case_index(cells: list[CellRecord]) -> dict[str, list[RecordedCase | None]]:
    """Case id -> that case in each cell (None where a cell lacks it), in first-seen order."""
    index: dict[str, list[RecordedCase | None]] = {}
    for position, cell in enumerate(cells):
        for case in cell.cases:
            index.setdefault(case.id, [None] * len(cells))[position] = case
    return index


def differs(row: list[RecordedCase | None]) -> bool:
    """True when cells disagree on a case: status, output, or presence."""
    if len(row) < 2:
        return False
    if any(case is None for case in row):
        return True
    first = row[0]
    return any(c.status != first.status or c.output != first.output for c in row[1:] if c is not None)


def _status_cell(case: RecordedCase | None) -> str:
    if case is None:
        return '<td class="missing">—</td>'
    why = ([f"error: {case.error}"] if case.error else []) + case.failures
    latency = ("" if case.latency_ms is None
               else f' <span class="ms">{escape(format_value(case.latency_ms))} ms</span>')
    reasons = "".join(f"<li>{escape(w)}</li>" for w in why)
    return (f'<td class="{case.status}">{STATUS_MARK[case.status]}{latency}'
            + (f'<ul class="why">{reasons}</ul>' if reasons else "") + "</td>")


def _details(cells: list[CellRecord], row: list[RecordedCase | None]) -> str:
    first = next(c for c in row if c is not None)
    parts = [f"<h4>input</h4><pre>{text(as_pretty(first.input))}</pre>",
             f"<h4>expected</h4><pre>{text(as_pretty(first.expected))}</pre>"]
    for cell, case in zip(cells, row, strict=True):
        if case is not None:
            parts.append(f"<h4>output — {escape(cell.label)}</h4><pre>{text(as_pretty(case.output))}</pre>")
    return f"<details><summary>details</summary>{''.join(parts)}</details>"


def case_table(cells: list[CellRecord]) -> str:
    """Every case with its status in each cell; a text filter and two toggles (plain inline JS)."""
    index = case_index(cells)
    if not index:
        return "<p>No cases recorded.</p>"
    head = "".join(f"<th>{escape(cell.label)}</th>" for cell in cells)
    rows = []
    for case_id, row in index.items():
        first = next(c for c in row if c is not None)
        failing = any(c is None or not c.passed for c in row)
        rows.append(f'<tr data-fail="{int(failing)}" data-differs="{int(differs(row))}">'
                    f"<td><code>{escape(case_id)}</code>{_details(cells, row)}</td>"
                    f'<td class="input">{escape(as_text(first.input, 200))}</td>'
                    + "".join(_status_cell(c) for c in row) + "</tr>")
    controls = ('<div class="controls"><label>Filter <input id="case-filter" type="search" '
                'placeholder="id, query, reason…"></label> <label><input id="only-failing" '
                'type="checkbox"> failing in any cell</label> <label><input id="only-differing" '
                'type="checkbox"> differing between cells</label> <span class="muted"><span id="case-count">'
                f"{len(index)}</span> of {len(index)} shown</span></div>")
    return (controls + f'<table id="cases"><thead><tr><th>case</th><th>input</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _diff_lines(old: object, new: object) -> str:
    lines = difflib.unified_diff(as_pretty(old).splitlines(), as_pretty(new).splitlines(), lineterm="", n=1)
    out = []
    for line in list(lines)[2:]:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(f'<span class="{kind}">{text(line)}</span>')
    return "\n".join(out) if out else '<span class="same">(same output)</span>'


def case_diffs(cells: list[CellRecord]) -> str:
    """For each case the cells disagree on: statuses, and each cell's output diffed against the first."""
    if len(cells) < 2:
        return "<p>Only one cell in this run: nothing to compare.</p>"
    changed = [(cid, row) for cid, row in case_index(cells).items() if differs(row)]
    if not changed:
        return "<p>Every cell produced the same status and output for every case.</p>"
    blocks = []
    for case_id, row in changed[:MAX_DIFF_CASES]:
        base_pos = next(i for i, c in enumerate(row) if c is not None)
        base = row[base_pos]
        statuses = " · ".join(f"{escape(cell.label)}: {STATUS_MARK[c.status] if c else 'missing'}"
                              for cell, c in zip(cells, row, strict=True))
        parts = [f'<div class="diff"><h4><code>{escape(case_id)}</code> '
                 f"{escape(as_text(base.input, 120))}</h4>"
                 f'<p class="muted">{statuses}</p>']
        for pos, case in enumerate(row):
            if pos == base_pos or case is None:
                continue
            parts.append(f"<p>{escape(cells[base_pos].label)} → {escape(cells[pos].label)}</p>"
                         f"<pre>{_diff_lines(base.output, case.output)}</pre>")
        blocks.append("".join(parts) + "</div>")
    more = len(changed) - MAX_DIFF_CASES
    tail = f"<p>… and {more} more cases differ (see the case table).</p>" if more > 0 else ""
    return f"<p>{len(changed)} cases differ between cells.</p>" + "".join(blocks) + tail
