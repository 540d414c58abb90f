"""Checks on what the model wrote before it reaches the shopper as the answer: a reply that is empty, repeats
itself, is in the wrong language, carries a tool call or code, or states a price that is not in the product data is
rejected (the templated reply is used instead, and the turn says why)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.types import Product
from tools.text import has_cjk

_PRICE = re.compile(r"(?:[¥￥$]|RMB|CNY|USD|EUR|€)\s*(\d+(?:[.,]\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s*(?:元|块|rmb|cny|usd|"
                    r"dollars?|美元|eur|euros?)", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MARKUP = ("<tool_call>", "</tool_call>", "```", '{"name"', '"arguments"')


def prices_in(text: str) -> list[float]:
    """Amounts written with a currency sign or unit ("¥79", "79元", "$19.99", "20 dollars")."""
    out = []
    for m in _PRICE.finditer(text):
        raw = (m.group(1) or m.group(2)).replace(",", ".")
        try:
            out.append(float(raw))
        except ValueError:
            continue
    return out


def _known_amounts(products: Iterable[Product], extra_text: str) -> list[float]:
    known = [p.price for p in products if p.price is not None]
    known += [float(n) for n in _NUMBER.findall(extra_text)]
    return known


def _repeats(text: str, size: int = 12, times: int = 4) -> bool:
    compact = re.sub(r"\s+", " ", text)
    seen: dict[str, int] = {}
    for start in range(0, max(0, len(compact) - size), 3):
        piece = compact[start:start + size]
        seen[piece] = seen.get(piece, 0) + 1
        if seen[piece] >= times:
            return True
    return False


def reply_problem(text: str, lang: str, products: list[Product], context: str = "") -> str | None:
    """Why a model reply cannot be shown (None when it can). `context` is text whose numbers may be quoted
    (the shopper's message, the search constraints)."""
    stripped = text.strip()
    if not stripped:
        return "the model returned an empty reply"
    if any(mark in stripped for mark in _MARKUP) or stripped.startswith(("{", "[")):
        return "the model returned a tool call or code instead of a reply"
    if lang == "zh" and not has_cjk(stripped):
        return "the model replied in the wrong language"
    if lang == "en" and not any(has_cjk(p.title) for p in products):
        cjk = sum(1 for ch in stripped if has_cjk(ch))
        if cjk > len(stripped) * 0.3:
            return "the model replied in the wrong language"
    if _repeats(stripped):
        return "the model's reply repeats itself"
    known = _known_amounts(products, context)
    for amount in prices_in(stripped):
        if not any(abs(amount - k) < 0.011 or int(amount) == int(k) for k in known):
            return f"the model stated a price ({amount:g}) that is not in the product data"
    return None
