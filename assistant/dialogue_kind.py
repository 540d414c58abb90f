"""What kind of product a conversation is about, and the numbers a product's data gives for comparatives and
sizes: the kind the shopper named (the attribute parser's category, else the head noun of the search text),
whether a product is of that kind (a keyboard, not a keyboard cover), its weight, screen size and storage (from
its attributes, else its title), and whether it lists a size."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel

from tools.core.types import Product
from tools.text import has_cjk

Field = Literal["price", "weight_g", "screen_size_in", "storage_gb"]
FIELD_NAMES = {
    "en": {"price": "price", "weight_g": "weight", "screen_size_in": "screen size", "storage_gb": "storage"},
    "zh": {"price": "价格", "weight_g": "重量", "screen_size_in": "屏幕尺寸", "storage_gb": "存储容量"},
}
# English words that, right after the kind's word, make the product an accessory of that kind
_ACCESSORY_AFTER = re.compile(
    r"^\W{0,2}(?:pad|pads|mat|mats|wrist|rest|pillow|cover|covers|skin|protector|case|cases|bag|bags|sleeve|"
    r"stand|stands|mount|mounts|arm|arms|cable|cables|extension|adapter|adapters|charger|dock|lock|tray|drawer|"
    r"filter|filters|kit|battery|batteries|cleaner|strap|holder|bracket|switch|lamp|cooler|cooling|privacy)\b", re.I)
_ACCESSORY_AFTER_ZH = re.compile(r"^(?:壳|套|膜|贴|包|袋|架|托|垫|线|充|支架|配件|保护)")
_PLURALS = {"mice": "mouse", "laptops": "laptop", "notebooks": "notebook", "keyboards": "keyboard",
            "monitors": "monitor", "headphones": "headphone", "printers": "printer", "shoes": "shoe"}
_SYNONYMS = {"laptop": "notebook", "headphone": "headphone", "monitor": "monitor"}
_HEAD_STOP = re.compile(r"\s(?:for|with|compatible|to|that|under|below|in|from|by)\s.*$", re.I)
_UNIT_WORDS = frozenset("inch inches in cm mm gb tb g kg lbs hz k 4k 8k hd uhd fhd new good cheap best".split())

_SCREEN = re.compile(r"(\d{1,2}(?:\.\d)?)\s*(?:\"|''|”|″|-?\s?inch(?:es)?\b|-?\s?in\b|英寸|吋|寸)", re.I)
_STORAGE = re.compile(r"(\d{2,4}|\d(?:\.\d)?)\s*(tb|gb)\b", re.I)
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|g|lbs?|公斤|千克|克)(?![a-z])", re.I)
_SIZE_IN_TITLE = r"(?<![\w.]){size}(?:码|号)?(?![\w.])"


class Comparative(BaseModel):
    """A request relative to what was shown: "lighter" -> weight_g below, "bigger screen" -> screen_size_in above."""

    field: Field
    direction: Literal["below", "above"]
    words: str = ""
    bound: float | None = None


_COMPARATIVES: list[tuple[re.Pattern[str], Field, str]] = [
    (re.compile(r"\blighter\b|\bless heavy\b|\bweighs less\b|更轻|轻一点|轻点|轻便一点|轻一些|更轻便", re.I),
     "weight_g", "below"),
    (re.compile(r"\bheavier\b|更重|重一点", re.I), "weight_g", "above"),
    (re.compile(r"\b(?:bigger|larger|wider)(?: screens?| displays?)?\b|\bbig(?:ger)? screen\b|更大的?屏|"
                r"屏幕?(?:更)?大一?[点些]|大屏|更大", re.I), "screen_size_in", "above"),
    (re.compile(r"\bsmaller\b|\bmore compact\b|更小|小一[点些]|小屏", re.I), "screen_size_in", "below"),
    (re.compile(r"\bmore (?:storage|space|capacity|gb)\b|\b(?:bigger|larger) (?:storage|drive|disk|ssd)\b|"
                r"更大的?(?:存储|容量|内存)|(?:存储|容量)更?大一?[点些]?|更多存储", re.I), "storage_gb", "above"),
]


def comparatives_in(text: str) -> list[Comparative]:
    """The comparatives a message asks for (storage before screen: "bigger storage" is not a bigger screen)."""
    found: list[Comparative] = []
    for pattern, field, direction in reversed(_COMPARATIVES):
        m = pattern.search(text)
        if m and not any(c.field in ("storage_gb", "screen_size_in") and field in ("storage_gb", "screen_size_in")
                         for c in found):
            found.append(Comparative(field=field, direction=direction, words=m.group(0)))  # type: ignore[arg-type]
    return found[::-1]


def product_kind(parsed: Any, text: str, predictor: Any = None) -> str | None:
    """The kind of product a message names: a product-type predictor's answer when one is given, else the
    attribute parser's category, else the head noun of the free text (English), else None."""
    if predictor is not None:
        predicted = predictor(text)
        if predicted:
            return str(predicted)
    category = getattr(parsed, "category", None) if parsed is not None else None
    if category:
        return str(category)
    rest = (getattr(parsed, "rest", "") if parsed is not None else "") or text
    if has_cjk(rest):
        return None
    words = [w for w in re.findall(r"[a-z]+", _HEAD_STOP.sub("", f" {rest.lower()} ").strip())
             if w not in _UNIT_WORDS and len(w) > 2]
    return words[-1] if words else None


def _norm(word: str) -> str:
    word = word.lower().strip()
    word = _PLURALS.get(word, word)
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3 and word not in ("glass",):
        word = word[:-1]
    return _SYNONYMS.get(word, word)


def _head(category: str) -> str:
    """The head of a category name: its last word (English, before any bracket), its last character (Chinese)."""
    bare = re.sub(r"\(.*?\)", "", category).strip().lower()
    if has_cjk(bare):
        return bare[-1:]
    words = re.findall(r"[a-z0-9]+", bare)
    return _norm(words[-1]) if words else bare


def _title_mentions(title: str, kind: str) -> str | None:
    """How the title names the kind: "product" (as the thing itself), "accessory" (only as what an accessory is
    for: mouse pad, 手机壳) or None (not at all)."""
    low = title.lower()
    if has_cjk(kind):
        found = list(re.finditer(re.escape(kind), low))
        accessory = [bool(_ACCESSORY_AFTER_ZH.match(low[m.end():])) for m in found]
    else:
        stems = {kind, f"{kind}s", "mice" if kind == "mouse" else kind, "laptop" if kind == "notebook" else kind}
        found = [m for stem in stems for m in re.finditer(rf"(?<![a-z]){re.escape(stem)}(?![a-z])", low)]
        accessory = [bool(_ACCESSORY_AFTER.match(low[m.end():])) for m in found]
    if not found:
        return None
    return "accessory" if all(accessory) else "product"


def matches_kind(product: Product, kind: str | None) -> bool:
    """Whether a product is of the kind (True when no kind is known). Its category decides when it ends with the
    kind (unless the title names the kind only as what an accessory is for: a mouse pad filed under Mouse); a
    category with another head (Keyboard cover, Wrist rest) rules it out unless the heads agree and the title
    names the kind (女鞋 for 运动鞋); without a category the title decides."""
    if not kind:
        return True
    k = kind.lower().strip() if has_cjk(kind) else " ".join(_norm(w) for w in kind.split())
    word = k if has_cjk(k) else k.split()[-1]
    said = _title_mentions(product.title, word)
    category = (product.category or "").strip()
    if category:
        cat = category.lower() if has_cjk(category) else " ".join(_norm(w) for w in re.findall(r"[a-z0-9]+",
                                                                                          category.lower()))
        if cat == k or cat.endswith(k) and (has_cjk(k) or cat.endswith(" " + k)):
            return said != "accessory"
        if _head(category) != _head(kind):
            return False
    return said == "product"


def product_numbers(product: Any) -> dict[str, float]:
    """The numbers a product's data gives: price, weight in g, screen size in inches, storage in GB (attributes
    first, then what its title states)."""
    attrs = dict(getattr(product, "attributes", None) or {})
    out: dict[str, float] = {}
    if getattr(product, "price", None) is not None:
        out["price"] = float(product.price)
    for key in ("weight_g", "screen_size_in", "storage_gb"):
        value = attrs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out[key] = float(value)
    title = getattr(product, "title", "") or ""
    if "screen_size_in" not in out and (m := _SCREEN.search(title)):
        out["screen_size_in"] = float(m.group(1))
    sizes = [float(m.group(1)) * (1000 if m.group(2).lower() == "tb" else 1) for m in _STORAGE.finditer(title)]
    if "storage_gb" not in out and sizes:
        out["storage_gb"] = max(sizes)  # "4 GB 500 GB": memory, then storage
    if "weight_g" not in out and (m := _WEIGHT.search(title)):
        unit = m.group(2).lower()
        factor = 1000 if unit in ("kg", "公斤", "千克") else 453.6 if unit.startswith("lb") else 1
        out["weight_g"] = float(m.group(1)) * factor
    return out


def lists_size(product: Product) -> bool:
    """Whether the product's data states any size (a size attribute, or 码/尺码/XL-style sizes in the title)."""
    attrs = {k.lower() for k in (product.attributes or {})}
    if attrs & {"size", "sizes", "尺码", "shoe_size"}:
        return True
    return bool(re.search(r"\d{2}(?:\.5)?\s*码|尺码|(?<![a-z])(?:xs|s|m|l|xl|xxl|xxxl)(?:/|,|\s|$)",
                          product.title.lower()))


def has_size(product: Product, size: str, screen: float | None = None) -> bool:
    """Whether the product's data states this size (27 inch: its screen size; 42码 / XL: in its title or
    attributes)."""
    if screen is not None:
        value = product_numbers(product).get("screen_size_in")
        return value is not None and abs(value - screen) < 0.6
    attrs = " ".join(str(v) for k, v in (product.attributes or {}).items() if "size" in k.lower() or "码" in k)
    text = f"{product.title} {attrs}".lower()
    return re.search(_SIZE_IN_TITLE.format(size=re.escape(size.lower())), text) is not None


def screen_size_in(text: str) -> float | None:
    """A screen size the shopper wrote ("27 inch", '27"', "15.6英寸"), in inches."""
    m = _SCREEN.search(text)
    return float(m.group(1)) if m else None
