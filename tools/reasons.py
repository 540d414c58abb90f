"""Why a product is recommended, in Chinese or English, citing only fields of the product itself (brand, category,
colour, price, rating) or the title of the product it is often chosen with. No number or name is made up."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from tools.attr_lexicon import load_json
from tools.core.types import Product
from tools.text import has_cjk

BRAND_REASON_MIN = 0.3
CATEGORY_REASON_MIN = 0.5
COOC_REASON_MIN = 0.3
MAX_REASONS = 3
SHORT_TITLE = 20
SYMBOLS = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "JP¥"}
RATING_KEYS = ("rating", "评分", "stars")

TEXT = {
    "en": {
        "bought_brand": "{brand}, a brand you bought before",
        "seen_brand": "{brand}, a brand you often look at",
        "category": "{category}, a category you often shop",
        "price": "{price}, in your usual price range",
        "together": "often chosen together with {other}",
        "seen": "you looked at this recently",
        "match": "the best match for your search",
        "rating": "rated {rating}",
        "sep": ", ",
    },
    "zh": {
        "bought_brand": "你买过的品牌：{brand}",
        "seen_brand": "你常看的品牌：{brand}",
        "category": "你常逛的品类：{category}",
        "price": "{price}，在你常买的价位内",
        "together": "常与「{other}」一起被选购",
        "seen": "你最近看过这件商品",
        "match": "与你的搜索最相符",
        "rating": "评分{rating}",
        "sep": "，",
    },
}


def format_number(value: float) -> str:
    """A price as written in the catalog: 79.0 -> '79', 50.9 -> '50.9', 19.99 -> '19.99'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_price(product: Product) -> str | None:
    """The product's price with its currency symbol (or code), or None when it has no price."""
    if product.price is None:
        return None
    amount = format_number(product.price)
    currency = (product.currency or "").upper()
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{symbol}{amount}"
    return f"{amount} {currency}".strip()


@lru_cache(maxsize=1)
def _zh_colour_names() -> dict[str, str]:
    names = {}
    for canonical, variants in load_json("attribute_words.json")["colors"].items():
        chinese = [v for v in variants if has_cjk(v) and v.endswith("色")]
        if chinese:
            names[canonical] = chinese[0]
    return names


def colour_of(product: Product, lang: Literal["zh", "en"]) -> str | None:
    """The product's colour: in Chinese the listing's own word (else the basic colour's Chinese name)."""
    raw = product.attributes.get("colour")
    if lang == "zh" and isinstance(raw, str) and has_cjk(raw):
        return raw.strip()
    if lang == "zh" and product.color:
        return _zh_colour_names().get(product.color.lower(), product.color)
    return product.color


def rating_of(product: Product) -> str | None:
    """The product's rating from its attributes, when it has one."""
    for key in RATING_KEYS:
        value = product.attributes.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return format_number(float(value))
    return None


def short_title(product: Product, lang: Literal["zh", "en"]) -> str:
    """The start of a product's title, to name it inside a sentence."""
    title = product.title
    if lang == "zh" or " " not in title:
        if len(title) <= SHORT_TITLE:
            return title
        cut = SHORT_TITLE
        while cut > 1 and title[cut - 1].isascii() and title[cut - 1].isalnum() and title[cut].isascii() \
                and title[cut].isalnum():
            cut -= 1  # never split a model number or a quantity ("12000mah" must not become "120")
        return title[:cut] + "…"
    words = title.split()
    return " ".join(words[:6]) + (" …" if len(words) > 6 else "")


def facts(product: Product, lang: Literal["zh", "en"]) -> str:
    """Brand, category, colour, price and rating of the product, those it has."""
    text = TEXT[lang]
    rating = rating_of(product)
    parts = [product.brand, product.category, colour_of(product, lang), format_price(product),
             text["rating"].format(rating=rating) if rating else None]
    return text["sep"].join(p for p in parts if p)


def explain(product: Product, lang: Literal["zh", "en"], rank: int, parts: dict[str, float],
            brand_pref: tuple[float, bool, str] | None, partner: Product | None) -> list[str]:
    """Short reasons for recommending `product`: the personal signals that fired, else its search rank and facts."""
    text = TEXT["zh" if lang == "zh" else "en"]
    lang = "zh" if lang == "zh" else "en"
    reasons = []
    if product.brand and brand_pref and parts.get("brand", 0) >= BRAND_REASON_MIN:
        reasons.append(text["bought_brand" if brand_pref[1] else "seen_brand"].format(brand=product.brand))
    if parts.get("seen", 0) >= 1.0:
        reasons.append(text["seen"])
    if partner is not None:
        reasons.append(text["together"].format(other=short_title(partner, lang)))
    price = format_price(product)
    if price and parts.get("price", 0) >= 1.0:
        reasons.append(text["price"].format(price=price))
    if product.category and parts.get("category", 0) >= CATEGORY_REASON_MIN:
        reasons.append(text["category"].format(category=product.category))
    if reasons:
        return reasons[:MAX_REASONS]
    summary = facts(product, lang)
    return ([text["match"]] if rank == 1 else []) + ([summary] if summary else [])
