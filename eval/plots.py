"""Small inline SVG plots for eval reports (grouped bars, box plots), drawn without a plotting library.

Every label is HTML-escaped here: names of variants, models and cells come from run records and are untrusted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

from eval.metrics import percentile
from eval.report_record import RecordedCase, format_value

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
NO_LABEL = "(none)"


def colour(index: int) -> str:
    """The series colour for a position."""
    return PALETTE[index % len(PALETTE)]


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{extra}>'
            f"{escape(text)}</text>")


def text_width(text: str, size: int = 10) -> float:
    """A generous estimate of the rendered width of a label in pixels (wide characters count double)."""
    return sum(size * (1.1 if ord(ch) >= 0x2E80 else 0.62) for ch in text)


def bar_value(value: float) -> str:
    """A bar's label, short enough for the bar: three decimals for scores, whole numbers from 100 on."""
    return f"{value:.3f}" if isinstance(value, float) and 0 < abs(value) < 1 else format_value(value)


def nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 2.5, 5 × a power of ten) at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    while step > value:
        step /= 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def bar_chart(title: str, groups: Sequence[str], series: Sequence[str],
              values: dict[tuple[str, str], float | None], reference: float | None = None) -> str:
    """Grouped bars: one group per x label (variant), one bar per series (model); nulls are marked n/a."""
    bar_w, gap, left, top, plot_h = 34, 18, 46, 28, 150
    slots = [max(len(series) * bar_w, text_width(g)) + gap for g in groups]
    width = round(max(left + sum(slots) + 10, 16 + 7 * len(title)))
    numbers = [v for v in values.values() if v is not None] + ([reference] if reference is not None else [])
    high = 1.0 if numbers and min(numbers) >= 0 and max(numbers) <= 1 else nice_max(max(numbers, default=1.0))
    scale = plot_h / high if high else 1.0
    base = top + plot_h
    out = [f'<svg role="img" class="chart" width="{width}" '
           f'height="{base + 40}" viewBox="0 0 {width} {base + 40}">', f"<title>{escape(title)}</title>",
           _text(left, 16, title, "start", 12, ' font-weight="600"')]
    for tick in (0, high / 2, high):
        y = base - max(0.0, tick) * scale
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" class="grid"/>')
        out.append(_text(left - 4, y + 4, format_value(tick), "end", 10))
    for gi, group in enumerate(groups):
        x0 = left + sum(slots[:gi]) + gap / 2 + (slots[gi] - gap - len(series) * bar_w) / 2
        for si, name in enumerate(series):
            value = values.get((group, name))
            x = x0 + si * bar_w
            if value is None:
                out.append(_text(x + bar_w / 2, base - 4, "n/a", size=9))
                continue
            h = max(0.0, min(value, high)) * scale
            tip = escape(f"{group} × {name}: {format_value(value)}")
            out.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 3}" height="{h:.1f}" '
                       f'fill="{colour(si)}"><title>{tip}</title></rect>')
            out.append(_text(x + bar_w / 2 - 1, base - h - 3, bar_value(value), size=9))
        out.append(_text(x0 + len(series) * bar_w / 2, base + 14, group, size=10))
    if reference is not None:
        y = base - max(0.0, min(reference, high)) * scale
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" class="threshold">'
                   f"<title>threshold {escape(format_value(reference))}</title></line>")
    out.append("</svg>")
    return "".join(out)


def legend(series: Sequence[str]) -> str:
    """An HTML legend matching bar_chart's series colours."""
    items = (f'<span class="key"><span class="swatch" style="background:{colour(i)}"></span>'
             f"{escape(name)}</span>" for i, name in enumerate(series))
    return f'<div class="legend">{"".join(items)}</div>'


def box_stats(values: Sequence[float]) -> dict[str, float]:
    """min, quartiles, median, p95 and max of a sample (which must not be empty)."""
    return {"min": min(values), "q1": percentile(values, 25), "median": percentile(values, 50),
            "q3": percentile(values, 75), "p95": percentile(values, 95), "max": max(values), "n": len(values)}


def box_plot(title: str, rows: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Horizontal box plots on one shared axis: box q1–q3, median line, whiskers min–max, a tick at p95."""
    plot_w, row_h, top = 420, 34, 30
    stats = [(label, box_stats(values)) for label, values in rows if values]
    label_w = max([120.0, *(text_width(label) + 16 for label, _ in stats)])
    high = nice_max(max((s["max"] for _, s in stats), default=1.0))
    scale = plot_w / high
    height = top + row_h * max(1, len(stats)) + 30
    width = round(label_w + plot_w + 80)
    out = [f'<svg role="img" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">', f"<title>{escape(title)}</title>",
           _text(4, 16, title, "start", 12, ' font-weight="600"')]
    for i, (label, s) in enumerate(stats):
        y = top + i * row_h + row_h / 2

        def px(v: float) -> float:
            return label_w + v * scale

        out.append(_text(label_w - 8, y + 4, label, "end", 10))
        out.append(f'<line x1="{px(s["min"]):.1f}" y1="{y:.1f}" x2="{px(s["max"]):.1f}" y2="{y:.1f}" '
                   f'class="whisker"/>')
        box_w = max(1.0, px(s["q3"]) - px(s["q1"]))
        out.append(f'<rect x="{px(s["q1"]):.1f}" y="{y - 9:.1f}" width="{box_w:.1f}" '
                   f'height="18" fill="{colour(i)}" fill-opacity="0.55" stroke="{colour(i)}"><title>'
                   + escape(f"{label}: n={s['n']}, median {format_value(s['median'])} ms, "
                            f"p95 {format_value(s['p95'])} ms, max {format_value(s['max'])} ms")
                   + "</title></rect>")
        out.append(f'<line x1="{px(s["median"]):.1f}" y1="{y - 9:.1f}" x2="{px(s["median"]):.1f}" '
                   f'y2="{y + 9:.1f}" class="median"/>')
        out.append(f'<line x1="{px(s["p95"]):.1f}" y1="{y - 5:.1f}" x2="{px(s["p95"]):.1f}" y2="{y + 5:.1f}" '
                   f'class="whisker"/>')
        out.append(_text(label_w + plot_w + 6, y + 4, f"p50 {format_value(s['median'])}", "start", 10))
    axis_y = top + row_h * max(1, len(stats)) + 6
    for tick in (0, high / 4, high / 2, 3 * high / 4, high):
        x = label_w + tick * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" class="grid"/>')
        out.append(_text(x, axis_y + 14, format_value(tick), size=10))
    out.append("</svg>")
    return "".join(out)


def confusion_counts(cases: Iterable[RecordedCase]) -> tuple[list[str], Counter[tuple[str, str]]]:
    """Labels (sorted) and (expected, predicted) counts over the cases that carry labels."""
    counts: Counter[tuple[str, str]] = Counter()
    for case in cases:
        if not case.labels or "expected" not in case.labels:
            continue
        expected = case.labels.get("expected")
        predicted = case.labels.get("predicted")
        counts[(NO_LABEL if expected is None else str(expected),
                NO_LABEL if predicted is None else str(predicted))] += 1
    labels = sorted({label for pair in counts for label in pair})
    return labels, counts
