"""Attribute parser (zh + en): turns a shopper query into structured constraints — category, brand, colour,
size, gender, price range, currency, excluded colours and brands — plus the free text that is left, and maps
them onto catalog search filters. Exposed as a typed class and a LangChain tool."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tools.attr_lexicon import AttributeLexicon, build_lexicon
from tools.attr_rules import WEAR_WORDS, blank, clean_rest, find_size
from tools.attr_scan import Match, choose_category, find_terms, mark_compatible_brands, mark_negations
from tools.core.types import Product, SearchFilters
from tools.price_parse import currency_of, parse_price
from tools.text import normalize, stem_en

if TYPE_CHECKING:
    from langchain_core.tools import StructuredTool

MAX_QUERY_CHARS = 512
SLOTS = ("category", "brand", "color", "size", "gender", "price_min", "price_max", "currency", "exclude_colors",
         "exclude_brands")
_SIZE_NOISE = re.compile(r"size|码|号|尺码|\s")


class ParsedAttributes(BaseModel):
    """Structured constraints read from one query. Empty fields mean "not stated"."""

    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(default=None, description="product category, as the catalog names it")
    brand: str | None = Field(default=None, description="brand, as the catalog spells it")
    color: str | None = Field(default=None, description="basic colour in lowercase English (blue, red, navy…)")
    size: str | None = Field(default=None, description="size as written: XL, 42, 2T, 32")
    gender: Literal["male", "female"] | None = Field(default=None, description="who the product is for")
    price_min: float | None = Field(default=None, ge=0, description="lowest acceptable price")
    price_max: float | None = Field(default=None, ge=0, description="highest acceptable price")
    currency: str | None = Field(default=None, description="ISO 4217 code when the query names one (CNY, USD)")
    exclude_colors: list[str] = Field(default_factory=list, description="colours the shopper does not want")
    exclude_brands: list[str] = Field(default_factory=list, description="brands the shopper does not want")
    rest: str = Field(default="", description="what is left of the query: the free-text product query")
    spans: dict[str, list[str]] = Field(default_factory=dict, description="slot -> query text it came from")

    _brand_filter: list[str] = PrivateAttr(default_factory=list)
    _exclude_brand_filter: list[str] = PrivateAttr(default_factory=list)
    _color_filter: list[str] = PrivateAttr(default_factory=list)
    _category_filter: list[str] | None = PrivateAttr(default=None)

    def to_filters(self) -> SearchFilters:
        """Catalog search filters: brands with every catalog spelling, colours, categories and price bounds."""
        categories = self._category_filter if self._category_filter is not None else (
            [self.category] if self.category else [])
        return SearchFilters(
            price_min=self.price_min, price_max=self.price_max, categories=list(categories),
            brands=self._brand_filter or ([self.brand] if self.brand else []),
            colors=self._color_filter or ([self.color] if self.color else []),
            exclude_brands=self._exclude_brand_filter or list(self.exclude_brands),
            exclude_colors=list(self.exclude_colors),
        )

    def search_filters(self) -> tuple[SearchFilters, list[str]]:
        """The filters a search applies and the categories it ranks first. The category read never filters:
        catalogs file the same thing under many names (防晒霜/防晒乳), and a wrong head noun ("printer paper" ->
        Printer) must not empty the results. Price bounds are in the currency the query named."""
        filters = self.to_filters()
        return filters.model_copy(update={"categories": [], "currency": self.currency}), filters.categories

    def is_empty(self) -> bool:
        """True when no slot was filled (the free text may still be non-empty)."""
        return not any(getattr(self, slot) not in (None, []) for slot in SLOTS)


def _first(matches: list[Match], kind: str, negated: bool = False) -> list[Match]:
    return [m for m in matches if m.kind == kind and m.negated == negated]


def _wanted(matches: list[Match], kind: str) -> list[Match]:
    """Values asked for: a value the query also refuses ("红色 不要红色") is not, as the explicit negation wins."""
    refused = {m.key for m in matches if m.kind == kind and m.negated}
    return [m for m in _first(matches, kind) if m.key not in refused]


def _gender(matches: list[Match], category: Match | None) -> Literal["male", "female"] | None:
    kinds = {m.key for m in matches if m.kind == "gender"}
    if category is not None:
        kinds |= {"male"} if "男" in category.text else set()
        kinds |= {"female"} if "女" in category.text else set()
    if "unisex" in kinds or len(kinds) != 1:
        return None
    return "male" if kinds.pop() == "male" else "female"  # the lexicon's gender keys: male, female, unisex


class AttributeParser:
    """Reads category, brand, colour, size, gender, price and negations from Chinese and English queries."""

    def __init__(self, lexicon: AttributeLexicon):
        self.lexicon = lexicon

    @classmethod
    def from_products(cls, products: Iterable[Product]) -> AttributeParser:
        """A parser whose lexicons hold the brands, categories and colours of these products."""
        return cls(build_lexicon(products))

    def parse(self, query: str) -> ParsedAttributes:
        """Parse one query; unusable input (not text, empty, over MAX_QUERY_CHARS) gives an empty result."""
        if not isinstance(query, str):
            return ParsedAttributes()
        text = normalize(query.replace("’", "'"))
        if not text or len(text) > MAX_QUERY_CHARS:
            return ParsedAttributes()
        matches = find_terms(self.lexicon, text)
        cues = mark_negations(text, matches)
        return self._assemble(text, matches, cues)

    def _assemble(self, text: str, matches: list[Match], cues: list[tuple[int, int]]) -> ParsedAttributes:
        category = choose_category(self.lexicon, text, [m for m in matches if m.kind == "category"])
        mark_compatible_brands(text, matches, category)
        consumed = list(cues) + [(m.start, m.end) for m in matches if m.kind in ("brand", "color", "gender")]
        work = blank(text, consumed)
        wear = any(m.kind == "gender" for m in matches) or bool(category and WEAR_WORDS.search(category.text))
        size = find_size(work, wear)
        if size is not None:
            consumed.append((size.start, size.end))
            work = blank(work, [(size.start, size.end)])
        price = parse_price(work)
        consumed.extend(price.spans)
        result = ParsedAttributes(
            size=size.value if size else None, gender=_gender(matches, category),
            price_min=price.price_min, price_max=price.price_max, currency=price.currency,
            rest=clean_rest(blank(text, consumed)),
        )
        self._fill_terms(result, matches, category)
        result.spans = self._spans(text, result, matches, category, size, price.spans)
        return result

    def _fill_terms(self, result: ParsedAttributes, matches: list[Match], category: Match | None) -> None:
        lex = self.lexicon
        brands, colors = _wanted(matches, "brand"), _wanted(matches, "color")
        if brands:
            display = result.brand = lex.brand_display.get(brands[0].key, brands[0].key)
            spellings = {s for m in brands for s in lex.brand_spellings.get(m.key, {m.key})}
            # the display name first (filters compare normalised names): replies name the brand by the first entry
            result._brand_filter = [display, *sorted(s for s in spellings if s.casefold() != display.casefold())]
        if colors:
            result.color = colors[0].key
            keys = {m.key for m in colors}
            result._color_filter = sorted(keys | {lex.color_parents[k] for k in keys if k in lex.color_parents})
        excluded = _first(matches, "brand", negated=True)
        result.exclude_brands = list(dict.fromkeys(lex.brand_display.get(m.key, m.key) for m in excluded))
        result._exclude_brand_filter = sorted({s for m in excluded
                                               for s in lex.brand_spellings.get(m.key, {m.key})})
        result.exclude_colors = list(dict.fromkeys(m.key for m in _first(matches, "color", negated=True)))
        if category is not None:
            result.category = lex.category_display.get(category.key, category.key)
            in_catalog = category.key in lex.catalog_categories
            result._category_filter = [result.category] if in_catalog else []

    @staticmethod
    def _spans(text: str, result: ParsedAttributes, matches: list[Match], category: Match | None, size: Any,
               price_spans: list[tuple[int, int]]) -> dict[str, list[str]]:
        spans: dict[str, list[str]] = {}
        for m in matches:
            slot = {"brand": "brand", "color": "color", "gender": "gender"}.get(m.kind)
            if slot in ("brand", "color") and not m.negated and m not in _wanted(matches, m.kind):
                continue
            if slot:
                spans.setdefault(f"exclude_{slot}s" if m.negated else slot, []).append(m.text)
        if category is not None:
            spans["category"] = [category.text]
        if size is not None:
            spans["size"] = [text[size.start:size.end]]
        priced = [text[a:b] for a, b in price_spans]
        for slot in ("price_min", "price_max", "currency"):
            if getattr(result, slot) is not None and priced:
                spans[slot] = priced
        return spans

    def canonical(self, slot: str, value: Any) -> Any:
        """A slot value in comparable form (alias, synonym and spelling differences removed); used by evals."""
        if value is None or value == "" or value == []:
            return None
        if isinstance(value, list | tuple | set):
            return frozenset(self.canonical(slot.removeprefix("exclude_").rstrip("s"), v) for v in value) or None
        if slot in ("price_min", "price_max"):
            return round(float(value), 2)
        text = normalize(str(value).replace("’", "'"))
        if slot == "currency":
            return currency_of(text) or text.upper()
        if slot == "size":
            return _SIZE_NOISE.sub("", text).upper()
        kind = {"brand": "brand", "color": "color", "category": "category", "gender": "gender"}.get(slot)
        entry = self.lexicon.lookup(text, kind) if kind else None
        if entry is None and slot == "color":
            bare = text.rstrip("的色")
            entry = self.lexicon.lookup(bare + "色", "color") or self.lexicon.lookup(bare, "color")
        if entry is not None:
            return entry.key
        return " ".join(stem_en(w) for w in text.split()) if slot == "category" else text


class ParseAttributesInput(BaseModel):
    """Arguments of the parse_attributes tool."""

    query: str = Field(description="the shopper's query, Chinese or English, as typed")


def make_attributes_tool(parser: AttributeParser) -> StructuredTool:
    """The parse_attributes LangChain tool bound to a parser (schema derived from ParseAttributesInput)."""
    from langchain_core.tools import StructuredTool

    def run(query: str) -> tuple[dict, ParsedAttributes]:
        result = parser.parse(query)
        return result.model_dump(), result

    return StructuredTool.from_function(
        func=run, name="parse_attributes", args_schema=ParseAttributesInput, response_format="content_and_artifact",
        description="Read structured constraints from a shopping query (Chinese or English): category, brand, "
                    "colour, size, gender, price range and currency, excluded colours and brands, and the "
                    "remaining free text.",
    )
