"""Price constraints in shopper queries, Chinese and English: ranges (50元到100元, $60-$90, between 50 and 100
dollars), upper bounds (200以内, 低于400, under $20), lower bounds (1000元以上, over $200), "around" (X左右,
around X: 0.8·X to 1.2·X) and bare amounts with a currency (15 bucks: at most 15).

A number only becomes a price with a cue: a currency, a bound word, "around", or 到/至 between two numbers.
Numbers followed by a unit (4 GB, 15寸, 42码) never do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tools.number_words import NumberSpan, find_numbers

N = "\ue000"  # stands for one number in the skeleton text the patterns run on
AROUND_LOW, AROUND_HIGH = 0.8, 1.2
MIN_BARE_RANGE = 10  # '两百到五百' is a price; '从0到1', '三到五' are not

_CUR_PRE = r"(?:us\s?\$|\$|¥|€|£|rmb|cny|usd|hkd|eur)"
_CUR_POST = (r"(?:\$|元钱|元(?![旦宵素件器老帅首气])|块钱|块|rmb|cny|人民币|美元|美金|dollars?|bucks?|usd|"
             r"欧元|euros?|eur|日元|日币|yen|jpy|港币|港元|hkd|英镑|gbp|yuan|kuai)(?![a-z])")
_AMT = rf"(?:{_CUR_PRE}\s*)?{N}(?:\s*{_CUR_POST})?"
_CURRENCY_TOKENS = [
    (re.compile(r"日元|日币|yen|jpy"), "JPY"), (re.compile(r"港币|港元|hkd"), "HKD"),
    (re.compile(r"欧元|euros?|eur|€"), "EUR"), (re.compile(r"英镑|gbp|£"), "GBP"),
    (re.compile(r"美元|美金|dollars?|bucks?|usd|\$"), "USD"),
    (re.compile(r"元|块|rmb|cny|人民币|yuan|kuai|¥"), "CNY"),
]
_PROMO_BEFORE = ("满", "减", "返", "券", "省")  # 满300减50 is a promotion, not a price constraint
_PRICE_WORDS = re.compile(r"价格|价位|价钱|预算|售价|price|budget|cost|spend|\$|¥|元|块钱|dollar|buck")


def _cues(english: str, chinese: str = "") -> str:
    """One alternation of cue words; English ones must start a word (no 'under' inside 'thunder')."""
    parts = [rf"(?<![a-z])(?:{english})"] if english else []
    return "|".join(parts + ([chinese] if chinese else []))


_UPPER_PRE = _cues(
    r"max(?:imum)? (?:price|budget|spend)(?: of| is)?|price (?:limit|cap|ceiling)(?: of| is)?|"
    r"budget (?:max|limit|cap)(?: of| is)?|(?<!not )(?<!no )under|(?<!not )below|(?<!not )(?<!no )less than|"
    r"lower than|cheaper than|no more than|not more than|not over|not above|not exceeding|at most|"
    r"(?:my )?budget(?: of| is| at)?",
    r"预算(?:在|是|为|只有)?|(?:不要|别|不能|不想|不可以|不)超过|不高于|不多于|不大于|(?<!不)低于|(?<!不)少于|"
    r"(?<!不)小于|不到|最多|最高|<=?|≤")
_UPPER_PRE_WEAK = _cues(r"up to|within|max(?:imum)?(?: of)?|tops")
_UPPER_POST = (r"以内|以下|之内|内|或以下|封顶|or less|or under|or below|and under|and below|at most|"
               r"or cheaper|max(?:imum)?|tops")
_LOWER_PRE = _cues(
    r"(?<!not )(?<!no )over|(?<!not )above|(?<!not )(?<!no )more than|greater than|higher than|pricier than|"
    r"at least|no less than|not less than|not under|not below",
    r"不低于|不少于|不小于|(?<!不)(?<!不要)(?<!别)(?<!不能)(?<!不想)超过|(?<!不)高于|(?<!不)大于|(?<!不)多于|"
    r"至少|最低|起码|>=?|≥")
_LOWER_PRE_WEAK = _cues(r"from|starting (?:at|from)|min(?:imum)?(?: of)?")
_LOWER_POST = r"以上|之上|往上|起(?=$|[\s,，。;；!！的步价])|or more|or above|and up|and above|or higher"
_LOWER_POST_WEAK = r"plus|\+"
_AROUND_PRE = _cues(r"around|about|approximately|approx\.?|roughly|circa",
                    r"大概|大约|约|差不多|估计|(?<![\d\ue000])\s*[~～]")
_AROUND_POST = r"左右|上下|附近|出头|ish"
_SEP = r"到|至|~|～|-|–|—|to|and"
_RANGE_CUE = _cues(r"between|from|price(?:d)?(?: range)?(?: of)?|budget(?: of)?", r"价格在?|价位在?|预算在?")


@dataclass
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    needs_currency: bool = False


def _rule(kind: str, regex: str, needs_currency: bool = False) -> _Rule:
    return _Rule(kind, re.compile(regex), needs_currency)


RULES = [
    _rule("range", rf"(?:(?P<cue>{_RANGE_CUE})\s*)?(?P<a>{_AMT})\s*(?P<sep>{_SEP})\s*(?P<b>{_AMT})"
                   rf"(?:\s*(?P<tail>之间|之内|以内|区间|范围|range|价位))?"),
    _rule("max", rf"(?:{_UPPER_PRE})\s*(?P<a>{_AMT})"),
    _rule("max", rf"(?P<a>{_AMT})\s*(?:{_UPPER_POST})(?![a-z])(?:\s*{_CUR_POST})?"),
    _rule("min", rf"(?:{_LOWER_PRE})\s*(?P<a>{_AMT})"),
    _rule("min", rf"(?P<a>{_AMT})\s*(?:{_LOWER_POST})(?![a-z])(?:\s*{_CUR_POST})?"),
    _rule("around", rf"(?:{_AROUND_PRE})\s*(?P<a>{_AMT})"),
    _rule("around", rf"(?P<a>{_AMT})\s*(?:{_AROUND_POST})(?:\s*{_CUR_POST})?"),
    _rule("max", rf"(?:{_UPPER_PRE_WEAK})\s*(?P<a>{_AMT})", needs_currency=True),
    _rule("min", rf"(?P<a>{_AMT})\s*(?:{_LOWER_POST_WEAK})(?:\s*{_CUR_POST})?", needs_currency=True),
    _rule("min", rf"(?:{_LOWER_PRE_WEAK})\s*(?P<a>{_AMT})", needs_currency=True),
    _rule("max", rf"(?P<a>{_AMT})", needs_currency=True),
]


@dataclass
class PriceParse:
    """What the price rules found: bounds, currency and the (start, end) text spans they came from."""

    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Skeleton:
    """The text with every price-capable number replaced by N, and the way back to original offsets."""

    text: str
    starts: list[int]
    ends: list[int]
    numbers: dict[int, NumberSpan]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of a skeleton slice."""
        return self.starts[start], self.ends[end - 1]


def build_skeleton(text: str, numbers: list[NumberSpan]) -> _Skeleton:
    """Replace each unit-less number by N, remembering original offsets of every skeleton character."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    by_index: dict[int, NumberSpan] = {}
    cursor = 0
    for span in (s for s in numbers if s.unit is None):
        chars.extend(text[cursor:span.start])
        starts.extend(range(cursor, span.start))
        ends.extend(range(cursor + 1, span.start + 1))
        by_index[len(chars)] = span
        chars.append(N)
        starts.append(span.start)
        ends.append(span.end)
        cursor = span.end
    chars.extend(text[cursor:])
    starts.extend(range(cursor, len(text)))
    ends.extend(range(cursor + 1, len(text) + 1))
    return _Skeleton("".join(chars), starts, ends, by_index)


def currency_of(text: str) -> str | None:
    """ISO code of the first currency named in a piece of text."""
    best: tuple[int, str] | None = None
    for pattern, code in _CURRENCY_TOKENS:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), code)
    return best[1] if best else None


def _values(skel: _Skeleton, match: re.Match[str]) -> list[NumberSpan]:
    return [skel.numbers[i] for i in range(match.start(), match.end()) if skel.text[i] == N]


def _range_ok(match: re.Match[str], high: float, has_currency: bool, price_words: bool) -> bool:
    sep, cue = match.group("sep"), match.group("cue") or ""
    if sep == "and":
        return cue == "between"
    if bool(cue or match.group("tail")) or has_currency or price_words:
        return True
    return sep in ("到", "至", "~", "～") and high >= MIN_BARE_RANGE


def _range_values(a: NumberSpan, b: NumberSpan) -> tuple[float, float]:
    low, high = a.value, b.value
    if a.multiplier is None and b.multiplier and b.multiplier >= 1000 and low <= high / b.multiplier:
        low *= b.multiplier  # 5到8千, 1-2k
    return (low, high) if low <= high else (high, low)


def _bounds(rule: _Rule, match: re.Match[str], numbers: list[NumberSpan], ok: bool
            ) -> tuple[float | None, float | None] | None:
    if rule.kind == "range":
        return _range_values(numbers[0], numbers[1]) if ok and len(numbers) == 2 else None
    if len(numbers) != 1:
        return None
    value = numbers[0].value
    if rule.kind == "around":
        return round(value * AROUND_LOW, 2), round(value * AROUND_HIGH, 2)
    return (value, None) if rule.kind == "min" else (None, value)


def _merge(result: PriceParse, low: float | None, high: float | None) -> bool:
    clash_low = result.price_min is not None and low is not None
    if clash_low or (result.price_max is not None and high is not None):
        return False
    new_low = low if low is not None else result.price_min
    new_high = high if high is not None else result.price_max
    if new_low is not None and new_high is not None and new_low > new_high:
        return False
    result.price_min, result.price_max = new_low, new_high
    return True


def parse_price(text: str, numbers: list[NumberSpan] | None = None) -> PriceParse:
    """Find price bounds in a normalised text (lowercase, NFKC); spans index into that text."""
    numbers = find_numbers(text) if numbers is None else numbers
    result = PriceParse()
    if not any(n.unit is None for n in numbers):
        return result
    skel = build_skeleton(text, numbers)
    work = skel.text
    price_words = bool(_PRICE_WORDS.search(text))
    for rule in RULES:
        for match in rule.pattern.finditer(work):
            start, end = skel.original(match.start(), match.end())
            if text[max(0, start - 1):start] in _PROMO_BEFORE and start > 0:
                continue
            currency = currency_of(text[start:end])
            if rule.needs_currency and currency is None:
                continue
            values = _values(skel, match)
            ok = rule.kind != "range" or _range_ok(match, max(v.value for v in values), currency is not None,
                                                   price_words)
            bounds = _bounds(rule, match, values, ok)
            if bounds is None or not _merge(result, *bounds):
                continue
            result.currency = result.currency or currency
            result.spans.append((start, end))
            work = work[:match.start()] + " " * (match.end() - match.start()) + work[match.end():]
    result.spans.sort()
    return result
