"""Colour names to canonical basic colours, for catalog rows: a stored colour is canonicalised, and a product
without one gets the colour its title names (so a colour filter finds "蓝色T恤" with no colour field)."""

from __future__ import annotations

import re
from functools import lru_cache

from tools.attr_lexicon import load_json
from tools.text import normalize


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], re.Pattern[str], tuple[str, ...]]:
    words = load_json("attribute_words.json")
    names: dict[str, str] = {}
    for canonical, variants in words["colors"].items():
        for variant in variants:
            names[normalize(variant)] = canonical
    # single characters (红, 蓝) are too ambiguous inside titles: only words of two or more characters count
    usable = sorted((w for w in names if len(w) >= 2), key=len, reverse=True)
    latin = [re.escape(w) for w in usable if w.isascii()]
    cjk = [re.escape(w) for w in usable if not w.isascii()]
    pattern = re.compile(r"(?<![a-z])(?:" + "|".join(latin) + r")(?![a-z])|" + "|".join(cjk))
    return names, pattern, tuple(normalize(w) for w in words.get("not_colors", []))


def canonical_color(value: str | None) -> str:
    """'Dark Blue' -> 'blue', '酒红色' -> 'red'; unknown names are returned normalised; '' for nothing."""
    if not value:
        return ""
    names, pattern, _ = _tables()
    text = normalize(value)
    if text in names:
        return names[text]
    found = pattern.search(text)
    return names[found.group(0)] if found else text


def color_in_title(title: str) -> str:
    """The first colour a title names (skipping words such as 蓝牙 or 红酒 that only contain one), or ''."""
    names, pattern, not_colors = _tables()
    text = normalize(title)
    for word in not_colors:
        text = text.replace(word, " ")
    found = pattern.search(text)
    return names[found.group(0)] if found else ""


def colors_in(text: str) -> set[str]:
    """Every basic colour a text names ("蓝色的, 不要红色" -> {"blue", "red"}); single characters included."""
    names, pattern, _ = _tables()
    norm = normalize(text)
    found = {names[m.group(0)] for m in pattern.finditer(norm)}
    found.update(canonical for word, canonical in names.items() if len(word) == 1 and word in norm)
    return found
