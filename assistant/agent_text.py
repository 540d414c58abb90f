"""Short texts a turn shows beside the reply: the relaxed-constraints note, one-line summaries of tool results for
the trace, reasons, and the one-click follow-ups (suggestions) offered after a search."""

from __future__ import annotations

import json
from typing import Any

from assistant.agent_types import ProductCard, Suggestion
from tools.core.types import SearchFilters
from tools.text import has_cjk

_RELAXED_ZH = {"price": "价格", "color": "颜色", "brand": "品牌", "category": "类目"}
ZH_COLOR = {"black": "黑色", "white": "白色", "red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色",
             "pink": "粉色", "purple": "紫色", "grey": "灰色", "gray": "灰色", "brown": "棕色", "orange": "橙色",
             "silver": "银色", "gold": "金色", "navy": "藏青色", "beige": "米色"}


def relaxed_note(relaxed: list[str], lang: str) -> str:
    """Tell the shopper which of their constraints nothing matched (and was dropped)."""
    if lang == "zh":
        return "没有同时满足所有条件的商品，已放宽：" + "、".join(_RELAXED_ZH.get(r, r) for r in relaxed)
    return "nothing matched every constraint, so these were relaxed: " + ", ".join(relaxed)


def suggestions_for(cards: list[ProductCard], used: SearchFilters, lang: str) -> list[Suggestion]:
    """Chips for the next step: a cheaper band, colours and brands present among the results."""
    out: list[Suggestion] = []
    price = _price_chip(cards, lang)
    if price is not None:
        out.append(price)
    colors = [c.color for c in cards if c.color and c.color not in used.colors]
    for color in dict.fromkeys(colors):
        message = f"{ZH_COLOR.get(color, color)}的" if lang == "zh" else f"{color} ones"
        out.append(Suggestion(label=message, message=message, kind="color"))
    brands = [c.brand for c in cards if c.brand and c.brand not in used.brands]
    for brand in list(dict.fromkeys(brands).keys())[:3]:
        message = f"{brand}的" if lang == "zh" and not has_cjk(brand) else brand
        out.append(Suggestion(label=message, message=message, kind="brand"))
    return [s for s in out if in_language(s.label, lang)][:8]


def in_language(text: str, lang: str) -> bool:
    """Whether a chip reads in the shopper's language: Chinese ones have Chinese, English ones have none."""
    return has_cjk(text) == (lang == "zh")


def _price_chip(cards: list[ProductCard], lang: str) -> Suggestion | None:
    """A budget at the median price of the results (None with fewer than two prices)."""
    prices = sorted(c.price for c in cards if c.price)
    if len(prices) < 2:
        return None
    limit = int(prices[len(prices) // 2])
    if lang == "zh":
        return Suggestion(label=f"{limit}元以内", message=f"{limit}元以内", kind="price")
    currency = next((c.currency for c in cards if c.currency), None)
    sign = "$" if currency in (None, "USD") else f"{currency} "
    return Suggestion(label=f"under {sign}{limit}", message=f"under {sign}{limit}", kind="price")


def summary(value: Any) -> str:
    """A tool result as one short line for the trace."""
    if hasattr(value, "label") and hasattr(value, "probability"):
        return f"{value.label} ({value.probability:.2f})"
    if hasattr(value, "corrected") and hasattr(value, "changed"):
        return f"-> {value.corrected}" if value.changed else "no change"
    if hasattr(value, "event_count") and hasattr(value, "preferred_brands"):
        brands = ", ".join(p.name for p in value.preferred_brands[:3]) or "-"
        return f"{value.event_count} events; brands: {brands}; {len(value.recent_queries)} recent queries"
    if hasattr(value, "to_filters"):
        slots = value.model_dump(exclude={"spans", "rest"}, exclude_defaults=True)
        return json.dumps(slots, ensure_ascii=False) if slots else "no attributes"
    return str(value)[:120]


def reason_text(reasons: list[str], lang: str) -> str:
    """The reasons a product is shown, joined for the shopper's language."""
    return ("；" if lang == "zh" else "; ").join(reasons)


def category_options(products: list[Any], lang: str) -> list[str]:
    """The catalog's four commonest categories in the shopper's language (options of a clarifying question)."""
    counts: dict[str, int] = {}
    for product in products:
        category = product.category
        if category and (has_cjk(category) == (lang == "zh") or lang == "en" and product.currency != "CNY"):
            counts[category] = counts.get(category, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))[:4]
