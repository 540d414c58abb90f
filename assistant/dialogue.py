"""Conversation state and the rules that read a follow-up message against it: "cheaper", "换个颜色", "the second
one", a new colour or budget for the same kind of product, or a new search. The rules need no model; the agent asks
the model only when they cannot tell what a message means."""

from __future__ import annotations

import re
import statistics
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.dialogue_constraints import Constraint
from assistant.dialogue_kind import (
    Comparative,
    comparatives_in,
    product_kind,
    product_numbers,
    screen_size_in,
)
from tools.colors import color_in_title
from tools.core.types import Product, SearchFilters
from tools.text import has_cjk

Lang = Literal["zh", "en"]
ActionKind = Literal["search", "product_info", "compare", "clarify", "service", "smalltalk"]

SEARCH_INTENTS = frozenset({"product_search", "recommend", "purchase"})
SERVICE_INTENTS = frozenset({"order_status", "return_refund", "payment_promotion", "account"})
MAX_SHOWN = 10
REFINEMENT_LABELS = {
    "zh": {"cheaper": "更便宜", "pricier": "更高档", "other_color": "换颜色", "other_brand": "换品牌",
           "similar": "相似款", "more": "更多", "constraints": "按新条件", "comparative": "按你的比较"},
    "en": {"cheaper": "cheaper", "pricier": "higher end", "other_color": "other colours",
           "other_brand": "other brands", "similar": "similar items", "more": "more results",
           "constraints": "with your new constraints", "comparative": "compared with what was shown"},
}

_ZH_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_EN_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
           "fifth": 5, "5th": 5, "last": -1}
_REF_ZH = re.compile(r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(?:个|件|款|条|种|双|台|部|只|本|项|号)?|最后[一1]?[个件款]")
_REF_FIRST_N = re.compile(r"\b(?:first|top)\s+(two|three|four|2|3|4)\b|前\s*([两二三四234])\s*[个件款台部只双条]?|"
                          r"\b(?:these|those|the) (two|three)\b|\bboth\b|这两[个件款台部只双条]|两[个件款台部只双条]都", re.I)
_N_WORDS = {"two": 2, "three": 3, "four": 4, "两": 2, "二": 2, "三": 3, "四": 4}
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|thx|bye|goodbye|ok|okay|cool|great|你好|您好|嗨|哈喽|谢谢|"
                       r"多谢|再见|拜拜|好的|好|嗯|哦)\W*(?:there|you|a lot|so much)?\W*$", re.I)
_REF_EN = re.compile(r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b(?!\s+(?:time|name))"
                     r"|#\s*(\d{1,2})\b|\b(?:number|no\.|item|product|option)\s*(\d{1,2})\b", re.I)
_CHEAPER = re.compile(r"便宜|实惠|低一点|低点|省钱|太贵|贵了|预算低|cheaper|less expensive|lower price|too expensive|"
                      r"more affordable|on a budget|budget option", re.I)
_PRICIER = re.compile(r"贵一点|贵点|高端|好一点的|更好的|档次高|pricier|more expensive|higher[- ]end|premium|"
                      r"better quality|something better", re.I)
_OTHER_COLOR = re.compile(r"(?:换|别的|其他|其它|另外|另一|不同的?)\s*(?:一|个|一个|种|一种|些)?\s*(?:颜色|色)|"
                          r"(?:other|different|another)\s+colou?rs?|in (?:a )?(?:different|another|other) colou?r",
                          re.I)
_OTHER_BRAND = re.compile(r"(?:换|别的|其他|其它|另外|不同的?)\s*(?:一|个|一个|种|些)?\s*(?:品牌|牌子)|"
                          r"(?:other|different|another)\s+brands?", re.I)
_SIMILAR = re.compile(r"类似|相似|差不多的|同款|similar|like (?:this|that|it|the)|more like", re.I)
_MORE = re.compile(r"^(?:还有吗|还有别的吗|更多|再来几个|换一批|more|show me more|any others?|anything else)\W*$", re.I)
_COMPARE = re.compile(r"比较|对比|哪个好|哪个更|区别|差别|\bvs\.?\b|\bversus\b|compare|difference|which (?:one )?is better",
                      re.I)
_COMPARE_SPLIT = re.compile(r"\s*(?:\bvs\.?\b|\bversus\b|和|跟|与|还是|\bor\b|\band\b|对比|比较)\s*", re.I)
# words that carry no product information: a message made only of these is too vague to search
_FILLER = re.compile(
    r"我想|我要|想要|想买|我买|买点|买个|买件|买|给我|帮我|推荐|一下|一些|一点|点|些|东西|什么|的|吗|呢|啊|吧|看看|有没有|"
    r"好的|好物|商品|产品|礼物|送人|\b(?:i|i'd|id|want|wanna|need|to|buy|get|me|some|something|anything|stuff|a|an|"
    r"the|please|recommend|show|find|looking|for|good|nice|cool|thing|things|product|products|gift|gifts|what|"
    r"should|can|you|do|have|any)\b|[\s,.!?，。！？、~]+", re.I)


class SearchState(BaseModel):
    """What the conversation is currently searching for."""

    text: str = Field(default="", description="the free-text product query")
    kind: str | None = Field(default=None, description="the kind of product the shopper named (Keyboard, 跑步鞋)")
    size: str | None = Field(default=None, description="a clothing/shoe size the shopper asked for (42, XL)")
    screen_in: float | None = Field(default=None, description="a screen size the shopper asked for, in inches")
    comparatives: list[Comparative] = Field(default_factory=list, description="lighter, bigger screen, …")
    filters: SearchFilters = Field(default_factory=SearchFilters)
    boost_categories: list[str] = Field(default_factory=list)
    exclude_ids: list[str] = Field(default_factory=list, description="products not to show again")


class SessionState(BaseModel):
    """Everything remembered between the turns of one conversation."""

    session_id: str
    user_id: str | None = None
    lang: Lang = "zh"
    turns: list[dict[str, str]] = Field(default_factory=list, description="recent user/assistant messages")
    search: SearchState | None = None
    shown: list[Product] = Field(default_factory=list, description="products of the last answer, in order")
    turn_no: int = Field(default=0, description="user turns so far")
    constraints: list[Constraint] = Field(default_factory=list, description="the current search's constraints, "
                                                                          "each with the turn it came from")

    @property
    def kind(self) -> str | None:
        """The kind of product the current search is for."""
        return self.search.kind if self.search is not None else None

    def remember(self, role: str, content: str, keep: int = 8) -> None:
        """Append a message to the short conversation memory."""
        self.turns.append({"role": role, "content": content[:600]})
        del self.turns[:-keep]


class Action(BaseModel):
    """What the rules decided to do with a message."""

    kind: ActionKind
    search: SearchState | None = None
    product_ids: list[str] = Field(default_factory=list, description="products the message refers to")
    refinements: list[str] = Field(default_factory=list, description="what changed: cheaper, other_color…")
    follow_up: bool = False
    certain: bool = True
    compare_terms: list[str] = Field(default_factory=list, description="products named for a comparison")


def language_of(text: str) -> Lang:
    """'zh' when the text contains Chinese, else 'en'."""
    return "zh" if has_cjk(text) else "en"


_ONLY = re.compile(r"^\s*(?:only|just|only the|只要|只看|仅限?)\s*", re.I)


def without_only(text: str) -> str:
    """A follow-up without its leading "only"/"just"/"只要" (which names no product or brand: ONLY is a brand)."""
    stripped = _ONLY.sub("", text, count=1)
    return stripped if stripped.strip() else text


def language_for(text: str, previous: Lang | None) -> Lang:
    """The shopper's language after a message: Chinese when it has Chinese; English when it has an English word
    of three letters or more (two after Chinese turns: a lone "adidas" is a brand); otherwise (a size, a number,
    "XL") the language so far."""
    if has_cjk(text):
        return "zh"
    words = len(re.findall(r"[A-Za-z]{3,}", text))
    if previous is None or words >= (2 if previous == "zh" else 1):
        return "en"
    return previous


def references(text: str, shown: list[Product]) -> list[Product]:
    """Products of the last answer the message points at ("第二件", "the 2nd one", "#3", "the last one")."""
    if not shown:
        return []
    positions: list[int] = []
    for m in _REF_ZH.finditer(text):
        token = m.group(1)
        if token is None:
            positions.append(-1)
        else:
            positions.append(int(token) if token.isdigit() else _ZH_NUM.get(token, 0))
    for m in _REF_EN.finditer(text):
        word, hash_num, num = m.groups()
        positions.append(_EN_ORD[word.lower()] if word else int(hash_num or num))
    for m in _REF_FIRST_N.finditer(text):
        word = next((g for g in m.groups() if g), None)
        count = 2 if word is None else int(word) if word.isdigit() else _N_WORDS.get(word.lower(), 2)
        positions.extend(range(1, count + 1))
    out: list[Product] = []
    for pos in positions:
        index = len(shown) - 1 if pos == -1 else pos - 1
        if 0 <= index < len(shown) and shown[index] not in out:
            out.append(shown[index])
    return out


def is_refinement(text: str) -> bool:
    """True when a message reads as a change to the current search ("cheaper", "换个颜色", "more like this")."""
    return any(p.search(text) for p in (_CHEAPER, _PRICIER, _OTHER_COLOR, _OTHER_BRAND, _SIMILAR)) or bool(
        _MORE.search(text.strip())) or bool(comparatives_in(text))


def is_greeting(text: str) -> bool:
    """A greeting or thanks and nothing else ("hi", "谢谢")."""
    return bool(_GREETING.match(text.strip()))


def is_vague(text: str, parsed: Any) -> bool:
    """True when the message names no product, brand, colour or price: nothing to search for yet."""
    if parsed is not None and not parsed.is_empty():
        return False
    return len(_FILLER.sub("", text.lower())) < 2


def _price_bound(base: Product | None, shown: list[Product], factor: float) -> float | None:
    """A price just past the referenced product's (or the median of what was shown): factor < 1 for "cheaper",
    > 1 for "pricier"; None when nothing shown has a price."""
    if base is not None and base.price:
        return round(base.price * factor, 2)
    prices = [p.price for p in shown if p.price]
    return round(statistics.median(prices) * factor, 2) if prices else None


def _with_parsed(state: SearchState, parsed: Any) -> SearchState:
    """Add the slots read from a follow-up ("蓝色的, 100块以内") to the current search."""
    if parsed is None:
        return state
    got = parsed.to_filters()
    update: dict[str, Any] = {}
    if got.colors:
        update["colors"] = got.colors
        update["exclude_colors"] = [c for c in state.filters.exclude_colors if c not in got.colors]
    if got.brands:
        update["brands"] = got.brands
    if got.price_min is not None or got.price_max is not None:
        update["price_min"], update["price_max"] = got.price_min, got.price_max
    if parsed.currency:
        update["currency"] = parsed.currency
    extra_state: dict[str, Any] = {}
    if getattr(parsed, "size", None):
        extra_state["size"] = parsed.size
    for key in ("exclude_colors", "exclude_brands"):
        extra = getattr(got, key)
        if extra:
            update[key] = sorted({*getattr(state.filters, key), *extra})
    filters = state.filters.model_copy(update=update)
    return state.model_copy(update={"filters": filters, **extra_state})


def new_search(text: str, parsed: Any) -> SearchState:
    """A fresh search for a message: its free text, its kind of product, its filters, its category as a boost,
    a size or screen size it states."""
    kind = product_kind(parsed, text)
    screen = screen_size_in(text)
    if parsed is None:
        return SearchState(text=text, kind=kind, screen_in=screen)
    filters, boost = parsed.search_filters()
    return SearchState(text=(parsed.rest.strip() or text), filters=filters, boost_categories=boost, kind=kind,
                       size=parsed.size, screen_in=screen)


def _comparatives(text: str, shown: list[Product]) -> list[Comparative]:
    """The comparatives of a message, each bounded by the median of what was shown (no bound when nothing
    shown has that number: the search then prefers the products that have it, lowest or highest first)."""
    out = []
    for comp in comparatives_in(text):
        values = [v for v in (product_numbers(p).get(comp.field) for p in shown) if v is not None]
        bound = statistics.median(values) if values else None
        out.append(comp.model_copy(update={"bound": bound}))
    return out


def interpret(state: SessionState, text: str, parsed: Any, intent: str | None, unsure: bool = False) -> Action:
    """Decide what a message asks for, given the conversation so far (no model involved). `unsure`: the intent
    classifier's confidence is low, so a service intent does not override a product category in the message
    (text around a product request, such as injected "SYSTEM:" lines, can pull the classifier off)."""
    if unsure and intent in SERVICE_INTENTS and parsed is not None and getattr(parsed, "category", None):
        intent = "search"
    refs = references(text, state.shown)
    current = state.search
    if current is not None and is_refinement(text):
        follow = _follow_up(state, current, text, parsed, refs, intent)
        if follow is not None and follow.kind == "search":
            return follow
    if _COMPARE.search(text) or intent == "compare":
        if len(refs) >= 2:
            return Action(kind="compare", product_ids=[p.id for p in refs], follow_up=True)
        terms = [_COMPARE.sub(" ", t).strip(" ?？,，。.!") for t in _COMPARE_SPLIT.split(text)]
        terms = [t for t in terms if len(t) >= 2]
        if len(terms) >= 2:
            return Action(kind="compare", compare_terms=terms[:4])
    if refs and current is not None and intent not in SERVICE_INTENTS:
        return Action(kind="product_info", product_ids=[refs[0].id], follow_up=True)
    if intent in SERVICE_INTENTS:
        return Action(kind="service")
    no_slots = parsed is None or parsed.is_empty()
    if current is not None and intent == "chitchat" and not is_greeting(text) and _content_words(text) <= 4:
        intent = None  # a short message during a search is read against the search, not as small talk
    if intent == "chitchat" and no_slots:
        return Action(kind="smalltalk")
    if intent == "out_of_scope" and no_slots:
        return Action(kind="smalltalk", refinements=["out_of_scope"])
    if current is not None:
        follow = _follow_up(state, current, text, parsed, refs, intent)
        if follow is not None:
            return follow
    if refs and intent in ("product_qa", None):
        return Action(kind="product_info", product_ids=[refs[0].id], follow_up=True)
    if is_vague(text, parsed):
        return Action(kind="clarify")
    return Action(kind="search", search=new_search(text, parsed))


def _follow_up(state: SessionState, current: SearchState, text: str, parsed: Any, refs: list[Product],
               intent: str | None) -> Action | None:
    """A refinement of the current search, or None when the message starts something new."""
    changes: list[str] = []
    search = current.model_copy(deep=True)
    base = refs[0] if refs else None
    if _OTHER_COLOR.search(text):
        changes.append("other_color")
        base_color = (base.color or color_in_title(base.title)) if base is not None else ""
        colors = [base_color] if base_color else list(search.filters.colors)
        if base is not None:
            search.text = base.title
            search.exclude_ids = [base.id]
            if base.category:
                search.boost_categories = [base.category]
            if base.brand:
                search.filters.brands = [base.brand]
        search.filters.colors = []
        search.filters.exclude_colors = sorted({*search.filters.exclude_colors, *colors})
    if _OTHER_BRAND.search(text):
        changes.append("other_brand")
        brands = [base.brand] if base is not None and base.brand else list(search.filters.brands)
        brands += [p.brand for p in state.shown[:3] if p.brand and not base]
        search.filters.brands = []
        search.filters.exclude_brands = sorted({*search.filters.exclude_brands, *brands})
    if _CHEAPER.search(text):
        changes.append("cheaper")
        limit = _price_bound(base, state.shown, 0.999)
        if limit is not None:
            search.filters.price_max, search.filters.price_min = limit, None
    elif _PRICIER.search(text):
        changes.append("pricier")
        floor = _price_bound(base, state.shown, 1.001)
        if floor is not None:
            search.filters.price_min, search.filters.price_max = floor, None
    if _SIMILAR.search(text) and base is not None:
        changes.append("similar")
        search.text, search.exclude_ids = base.title, [base.id]
        search.boost_categories = [base.category] if base.category else search.boost_categories
    if _MORE.search(text.strip()):
        changes.append("more")
        search.exclude_ids = sorted({*search.exclude_ids, *(p.id for p in state.shown)})
    comparatives = _comparatives(text, [base] if base is not None else state.shown)
    if comparatives:
        changes.append("comparative")
        fields = {c.field for c in comparatives}
        search.comparatives = [*(c for c in search.comparatives if c.field not in fields), *comparatives]
    same_kind = parsed is not None and parsed.category and current.kind and (
        parsed.category.lower() == current.kind.lower())
    names_new_product = parsed is not None and not same_kind and (
        parsed.category or _content_words(_without_comparatives(parsed.rest)) >= 2)
    if parsed is not None and not parsed.is_empty() and not (names_new_product and not changes):
        search = _with_parsed(search, parsed)
        changes.append("constraints")
    if changes:
        return Action(kind="search", search=search, refinements=changes, follow_up=True,
                      product_ids=[base.id] if base is not None else [])
    if refs:
        return Action(kind="product_info", product_ids=[p.id for p in refs], follow_up=True)
    rest = (parsed.rest if parsed is not None else text).strip()
    if (parsed is not None and parsed.category and not same_kind) or _content_words(rest) > 4 or is_vague(
            text, parsed):
        return None
    # a short follow-up the rules cannot read ("适合跑步穿的那种", "for running"): by default it adds to the
    # current search's words; the model is asked what it means when one is available
    search.text = f"{search.text} {rest}".strip()
    return Action(kind="search", search=search, follow_up=True, certain=False, refinements=["constraints"])


def _without_comparatives(text: str) -> str:
    """The text with comparative words ("lighter", "bigger screen", "only") taken out."""
    for comp in comparatives_in(text):
        text = text.replace(comp.words, " ")
    return re.sub(r"\b(?:only|just|one|ones)\b|只要|只看", " ", text, flags=re.I)


def _content_words(text: str) -> int:
    """How many meaningful units a text has left once filler is removed (CJK characters count half)."""
    rest = _FILLER.sub(" ", text.lower()).strip()
    if not rest:
        return 0
    cjk = sum(1 for ch in rest if has_cjk(ch))
    latin = [w for w in rest.split() if not has_cjk(w)]
    return len(latin) + cjk // 2
