"""What a reply says that a list of products cannot: which stated constraints every shown product meets, what was
relaxed or could not be checked (and why), one line of advice, and the side-by-side table of a comparison. Every
phrase is built from the search state and the products' own data, so nothing in it is invented."""

from __future__ import annotations

from typing import Any

from assistant.agent_text import ZH_COLOR
from assistant.dialogue_kind import FIELD_NAMES, product_numbers
from tools.attr_lexicon import plural
from tools.text import has_cjk

_UNIT = {"weight_g": "g", "screen_size_in": '"', "storage_gb": " GB"}
_ZH_UNIT = {"weight_g": "克", "screen_size_in": "英寸", "storage_gb": "GB"}
_EN_WORD = {("weight_g", "below"): "lighter", ("weight_g", "above"): "heavier",
            ("screen_size_in", "above"): "a bigger screen", ("screen_size_in", "below"): "a smaller screen",
            ("storage_gb", "above"): "more storage", ("storage_gb", "below"): "less storage"}
_ZH_WORD = {("weight_g", "below"): "更轻", ("weight_g", "above"): "更重", ("screen_size_in", "above"): "屏幕更大",
            ("screen_size_in", "below"): "屏幕更小", ("storage_gb", "above"): "存储更大",
            ("storage_gb", "below"): "存储更小"}
_BEST = {("weight_g", "below"): ("lightest", "最轻"), ("screen_size_in", "above"): ("biggest screen", "屏幕最大"),
         ("screen_size_in", "below"): ("smallest screen", "屏幕最小"), ("storage_gb", "above"): ("most storage", "存储最大"),
         ("weight_g", "above"): ("heaviest", "最重"), ("storage_gb", "below"): ("least storage", "存储最小")}


def _num(value: float, field: str, lang: str) -> str:
    text = f"{value:g}"
    return f"{text}{_ZH_UNIT.get(field, '')}" if lang == "zh" else f"{text}{_UNIT.get(field, '')}"


def _money(value: float, currency: str | None, lang: str) -> str:
    if lang == "zh" and currency in (None, "CNY"):
        return f"{value:g}元"
    return f"{value:g} {currency or 'USD'}"


def _colour(name: str, lang: str) -> str:
    return ZH_COLOR.get(name, name) if lang == "zh" else name


def met_phrases(search: Any, relaxed: list[str], unknown: list[str], lang: str) -> list[str]:
    """The stated constraints every shown product meets (those relaxed or not checkable left out)."""
    f, zh, out = search.filters, lang == "zh", []
    if "price" not in relaxed and f.price_max is not None:
        out.append(f"{_money(f.price_max, f.currency, lang)}以内" if zh else
                   f"under {_money(f.price_max, f.currency, lang)}")
    if "price" not in relaxed and f.price_min is not None:
        out.append(f"不低于{_money(f.price_min, f.currency, lang)}" if zh else
                   f"from {_money(f.price_min, f.currency, lang)}")
    if "color" not in relaxed and f.colors:
        out.append(_colour(f.colors[0], lang))
    if "brand" not in relaxed and f.brands:
        out.append(f"{f.brands[0]}品牌" if zh else f"by {f.brands[0]}")
    out += [f"不是{_colour(c, lang)}" if zh else f"not {c}" for c in f.exclude_colors]
    out += [f"不是{b}" if zh else f"not {b}" for b in f.exclude_brands[:2]]
    if search.size and "size" not in relaxed + unknown:
        out.append(f"{search.size}码" if zh else f"size {search.size}")
    if search.screen_in and "screen_size_in" not in relaxed + unknown:
        out.append(f"{search.screen_in:g}英寸" if zh else f'{search.screen_in:g}" screen')
    for comp in search.comparatives:
        if comp.field in relaxed + unknown:
            continue
        word = (_ZH_WORD if zh else _EN_WORD)[(comp.field, comp.direction)]
        if comp.bound is None:
            out.append(f"有{FIELD_NAMES['zh'][comp.field]}数据、{word}的排前" if zh else f"{word} first")
        else:
            bound = _num(comp.bound, comp.field, lang)
            out.append(f"{word}（对比之前的{bound}）" if zh else f"{word} than the {bound} shown before")
    return out


def found_notes(search: Any, relaxed: list[str], unknown: list[str], kind_missing: bool, lang: str) -> list[str]:
    """Sentences on what could not be met: relaxed filters (with the values), fields the catalog lacks."""
    zh, kind = lang == "zh", search.kind or ("商品" if lang == "zh" else "product")
    f, out = search.filters, []
    if kind_missing:
        out.append(f"目录里没有找到“{kind}”，以下是最接近的商品。" if zh else
                   f"Nothing in the catalog is a {kind}; these are the closest matches.")
    values = {"price": _money(f.price_max or f.price_min or 0, f.currency, lang), "brand": ", ".join(f.brands),
              "color": ", ".join(_colour(c, lang) for c in f.colors), "size": search.size or "",
              "screen_size_in": f"{search.screen_in or 0:g}\""}
    for name in relaxed:
        label = FIELD_NAMES[lang].get(name, {"color": "颜色" if zh else "colour", "brand": "品牌" if zh else "brand",
                                             "size": "尺码" if zh else "size"}.get(name, name))
        value = values.get(name, "")
        if name in FIELD_NAMES["en"] and name != "price":
            value = next((c.words for c in search.comparatives if c.field == name), value)
        out.append(f"没有同时满足“{value}”的{kind}，已放宽{label}。" if zh else
                   f"No {kind} matched {value or label} as well, so the {label} was relaxed.")
    for name in unknown:
        label = {"size": "尺码" if zh else "sizes"}.get(name) or FIELD_NAMES[lang][name]
        what = search.size if name == "size" else next((c.words for c in search.comparatives if c.field == name),
                                                       f"{search.screen_in or 0:g}\"")
        out.append(f"商品资料里没有{label}信息，无法确认“{what}”。" if zh else
                   f"The catalog gives no {label} for these, so \"{what}\" could not be checked.")
    return out


def advice(cards: list[Any], search: Any, lang: str) -> str:
    """One line of advice from the products' data: the best on the comparative asked for, else the cheapest."""
    zh = lang == "zh"
    for comp in search.comparatives:
        numbers = [(i, product_numbers(c).get(comp.field)) for i, c in enumerate(cards, 1)]
        valued = [(i, v) for i, v in numbers if v is not None]
        if valued:
            pick = min(valued, key=lambda iv: iv[1]) if comp.direction == "below" else max(valued, key=lambda iv: iv[1])
            en, cn = _BEST[(comp.field, comp.direction)]
            value = _num(pick[1], comp.field, lang)
            return f"其中第{pick[0]}件{cn}（{value}）。" if zh else f"Of these, #{pick[0]} has the {en} ({value})."
    priced = [(i, c) for i, c in enumerate(cards, 1) if c.price is not None]
    if len(priced) < 2:
        return ""
    i, c = min(priced, key=lambda ic: ic[1].price)
    price = f"{c.price:.2f} {c.currency or ''}".strip()
    return f"其中第{i}件最便宜（{price}）。" if zh else f"Of these, #{i} is the cheapest ({price})."


def comparison_table(products: list[Any], lang: str) -> list[dict[str, Any]]:
    """Rows of the fields at least one of the products has: price, brand, colour, category, numbers from the
    data or the title (screen, storage, weight)."""
    zh = lang == "zh"
    numbers = [product_numbers(p) for p in products]
    rows = [("价格" if zh else "price", [f"{p.price:.2f} {p.currency or ''}".strip() if p.price is not None
                                         else None for p in products]),
            ("品牌" if zh else "brand", [p.brand for p in products]),
            ("颜色" if zh else "colour", [_colour(p.color, lang) if p.color else None for p in products]),
            ("类目" if zh else "category", [p.category for p in products])]
    for field in ("screen_size_in", "storage_gb", "weight_g"):
        rows.append((FIELD_NAMES[lang][field], [_num(n[field], field, lang) if field in n else None
                                               for n in numbers]))
    return [{"name": name, "values": [v or "–" for v in values]} for name, values in rows if any(values)]


def comparison_advice(products: list[Any], lang: str) -> str:
    """One sentence citing only the table's fields: the cheapest, and which differs on a number."""
    zh = lang == "zh"
    parts = []
    priced = [p for p in products if p.price is not None]
    if priced:
        cheapest = min(priced, key=lambda p: p.price)
        parts.append(f"最便宜的是 {cheapest.title[:60]}" if zh else f"The cheapest is {cheapest.title[:60]}")
    numbers = [product_numbers(p) for p in products]
    for field, direction in (("screen_size_in", "above"), ("storage_gb", "above"), ("weight_g", "below")):
        valued = [(i, n[field]) for i, n in enumerate(numbers, 1) if field in n]
        if len(valued) >= 2 and len({v for _, v in valued}) > 1:
            pick = (min if direction == "below" else max)(valued, key=lambda iv: iv[1])
            en, cn = _BEST[(field, direction)]
            parts.append(f"第{pick[0]}件{cn}（{_num(pick[1], field, lang)}）" if zh else
                         f"#{pick[0]} has the {en} ({_num(pick[1], field, lang)})")
    if not parts:
        return ""
    return "；".join(parts) + "。" if zh else "; ".join(parts) + "."


def kind_label(kind: str | None, lang: str, count: int) -> str | None:
    """The kind of product as the reply names it ("keyboards", "跑步鞋")."""
    if not kind:
        return None
    if lang == "zh" or has_cjk(kind):
        return kind
    word = kind.lower()
    return word if count == 1 or word.endswith("s") else plural(word)
