"""HTML for the chat widget: product cards, the corrected query, the per-turn trace, the shopper selector and the
fixed labels in Chinese and English. Every catalog, shopper and model string is escaped with html.escape."""

from __future__ import annotations

import html
import json
from typing import Any, Literal

GUEST = "guest"

LABELS: dict[str, dict[str, str]] = {
    "en": {"title": "shopquery — shopping assistant", "user": "Shopping as", "guest": "Guest (no history)",
           "new": "New conversation", "placeholder": "What are you looking for? e.g. wireless mouse under $30",
           "send": "Send", "products": "Products", "no_products": "Products appear here.",
           "trace": "Trace: tool calls, arguments, timings, fallbacks", "showing": "Showing results for",
           "instead": "Search instead for", "first_token": "first token", "total": "total",
           "fallback": "fallback", "error": "Could not answer that", "working": "…", "chat": "Chat",
           "no_trace": "No turns yet.", "columns": "kind|name|source|arguments|result|ms"},
    "zh": {"title": "shopquery 购物助手", "user": "当前用户", "guest": "访客（无历史）", "new": "新对话",
           "placeholder": "想买什么？例如：蓝色T恤 100元以内", "send": "发送", "products": "商品",
           "no_products": "商品会显示在这里。", "trace": "调用记录：工具、参数、耗时、降级",
           "showing": "已显示以下搜索结果：", "instead": "仍然搜索", "first_token": "首字",
           "total": "总计", "fallback": "降级", "error": "无法回答", "working": "…", "chat": "对话",
           "no_trace": "还没有对话。", "columns": "类型|名称|发起方|参数|结果|毫秒"},
}

CSS = """
.sq-cards {display: flex; flex-direction: column; gap: 8px;}
.sq-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;}
.sq-title {font-weight: 600;}
.sq-meta {color: var(--body-text-color-subdued); margin: 2px 0;}
.sq-price {font-weight: 600; color: var(--color-accent);}
.sq-attrs {display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0; padding: 0; list-style: none;}
.sq-attrs li {background: var(--background-fill-secondary); border-radius: 4px; padding: 0 6px; font-size: 0.9em;}
.sq-reason {font-size: 0.9em; font-style: italic;}
.sq-chip {white-space: nowrap;}
.sq-trace table {width: 100%; font-size: 0.85em; border-collapse: collapse;}
.sq-trace td, .sq-trace th {border-bottom: 1px solid var(--border-color-primary); padding: 2px 4px;
  text-align: left; vertical-align: top;}
.sq-trace code {white-space: pre-wrap; word-break: break-all;}
.sq-error {color: var(--error-text-color);}
"""


def escape(value: Any) -> str:
    """Any value as HTML text (markup in it is shown, never run)."""
    return html.escape(str(value), quote=True)


def format_price(price: float | None, currency: str | None) -> str:
    """A price for display: ¥79.00, $19.99, 12.00 EUR, or '-'."""
    if price is None:
        return "-"
    sign = {"CNY": "¥", "RMB": "¥", "USD": "$"}.get((currency or "").upper())
    return f"{sign}{price:.2f}" if sign else f"{price:.2f} {currency or ''}".strip()


def _key_attributes(card: Any, limit: int = 4) -> list[str]:
    items = [v for v in (card.category, card.color) if v]
    for key, value in card.attributes.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool) and len(str(value)) <= 40:
            items.append(f"{key}: {value}")
    return items[: limit + 2]


def cards_html(cards: list[Any], lang: str, turn_no: int) -> str:
    """The product cards of a turn; every string escaped."""
    labels = LABELS[lang]
    if not cards:
        return f'<div class="sq-products" data-turn="{turn_no}"><p>{escape(labels["no_products"])}</p></div>'
    rows = []
    for card in cards:
        attrs = "".join(f"<li>{escape(a)}</li>" for a in _key_attributes(card))
        reason = f'<div class="sq-reason">{escape(card.reason)}</div>' if card.reason else ""
        price = "" if card.price is None else escape(card.price)
        rows.append(
            f'<div class="sq-card" data-product-id="{escape(card.id)}" data-price="{price}">'
            f'<div class="sq-title">{escape(card.title)}</div>'
            f'<div class="sq-meta"><span class="sq-brand">{escape(card.brand or "-")}</span> · '
            f'<span class="sq-price">{escape(format_price(card.price, card.currency))}</span></div>'
            f'<ul class="sq-attrs">{attrs}</ul>{reason}</div>')
    return f'<div class="sq-products" data-turn="{turn_no}"><div class="sq-cards">{"".join(rows)}</div></div>'


def correction_html(turn: Any, lang: str) -> str:
    """'Showing results for …' when the query was corrected, else empty."""
    if not turn.corrected_query:
        return ""
    return (f'<div class="sq-correction">{escape(LABELS[lang]["showing"])} '
            f'<b class="sq-corrected">{escape(turn.corrected_query)}</b></div>')


def trace_html(turn: Any, turn_no: int, lang: str, open_: bool = True) -> str:
    """One turn's trace as a collapsible block: each tool or model call with arguments, result and time."""
    labels = LABELS[lang]
    rows = []
    for step in turn.trace:
        args = json.dumps(step.args, ensure_ascii=False, default=str) if step.args else ""
        outcome = f'<span class="sq-error">{escape(step.error)}</span>' if step.error else escape(step.result or "")
        rows.append(f'<tr class="sq-step" data-kind="{escape(step.kind)}" data-name="{escape(step.name)}">'
                    f"<td>{escape(step.kind)}</td><td>{escape(step.name)}</td><td>{escape(step.source)}</td>"
                    f"<td><code>{escape(args)}</code></td><td>{outcome}</td><td>{step.ms:.0f}</td></tr>")
    first = f"{labels['first_token']} {turn.first_token_ms:.0f} ms, " if turn.first_token_ms is not None else ""
    fallback = f" · {escape(labels['fallback'])}: {escape(turn.fallback)}" if turn.fallback else ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in turn.notes)
    return (f'<details class="sq-turn" data-turn="{turn_no}"{" open" if open_ else ""}>'
            f"<summary>#{turn_no} <q class='sq-turn-message'>{escape(turn.message)}</q> — {escape(turn.action)}, "
            f"{first}{labels['total']} {turn.total_ms:.0f} ms{fallback}</summary>"
            f"<table><tr>{''.join(f'<th>{escape(c)}</th>' for c in labels['columns'].split('|'))}</tr>"
            f"{''.join(rows)}</table>{f'<ul>{notes}</ul>' if notes else ''}</details>")


def traces_html(blocks: list[str], lang: str) -> str:
    """Every turn's trace, newest first."""
    body = "".join(reversed(blocks)) or f"<p>{escape(LABELS[lang]['no_trace'])}</p>"
    return f'<div class="sq-trace">{body}</div>'


def user_choices(lang: str, extra: str | None = None) -> list[tuple[str, str]]:
    """The shopper selector: a guest and the demo shoppers (described in the shopper's language)."""
    from tools.demo_users import load_demo_users

    choices = [(LABELS[lang]["guest"], GUEST)]
    key: Literal["zh", "en"] = "zh" if lang == "zh" else "en"  # LABELS[lang] has refused any other language
    choices += [(f"{u.id} — {u.description[key]}", u.id) for u in load_demo_users()]
    if extra and extra not in {value for _, value in choices}:
        choices.append((extra, extra))
    return choices
