"""Numbers as shoppers write them: digits (1,299 / 1.5k / 2w), Chinese numerals (两百, 一千二, 1.5万) and English
number words (twenty, two hundred and fifty, a grand). `find_numbers` also says which unit follows a number, so
that "4 GB", "42码" or "15寸" are never mistaken for prices."""

from __future__ import annotations

import re
from dataclasses import dataclass

ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
             "九": 9}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_ZH = "零〇一二两三四五六七八九十百千万"
_RUN = re.compile(rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?(?:[十百千万](?:\d+|[一二两三四五六七八九])?)*|[{_ZH}]+")
_PIECE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|.")

EN_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
EN_TENS = {w: 10 * (i + 2)
           for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
EN_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000}
_WORD = re.compile(r"[a-z]+")
_START = frozenset([*EN_SMALL, *EN_TENS, "a"])
_CONTINUE = frozenset([*EN_SMALL, *EN_TENS, *EN_SCALES, "and"])

# Units that make a number a quantity, not a price. CJK units need no word boundary.
EN_UNITS = frozenset((
    "g mg gb gig gigs tb mb kb gbps mbps mm cm m km in inch inches ft feet foot yd mah wh w kw v hz khz mhz ghz "
    "kg lb lbs pound pounds oz ml l liter liters litre litres pcs pc pack packs pk piece pieces count ct x p mp "
    "ms rpm core cores th st nd rd year years yr yrs month months mo week weeks day days hour hours hr hrs "
    "minute minutes min mins second seconds sec people person persons seat seats seater pair pairs sheet sheets "
    "page pages ppm dpi bit bits port ports channel channels way gen generation series times percent degree "
    "degrees meter meters metre metres"
).split())
ZH_UNITS_AFTER = tuple(sorted((
    "寸 英寸 克 斤 公斤 千克 毫升 升 米 厘米 毫米 瓦 千瓦 伏 毫安 安 片 个 件 只 双 盒 包 瓶 袋 罐 支 条 张 本 套 台 部 岁 "
    "年 月 天 日 周 小时 分钟 秒 人 层 门 匹 核 代 位 度 次 折 倍 级 平米 平方 立方 粒 颗 根 卷 把 对 份 码 号 尺 "
    "吋 兆 串 箱 辆 栋 间 组 款 色 路 寸屏 帧 期 集 楼 届 首 篇 节 页 摄氏度 %"
).split(), key=len, reverse=True))
_SYMBOL_UNITS = ('"', "'", "%", "°", "℃", "″", "×")
_ATTACHED_ONLY = frozenset(("in", "st", "nd", "rd", "th"))
CURRENCY_WORDS = frozenset(
    "rmb cny usd hkd eur yuan kuai dollar dollars buck bucks euro euros yen jpy gbp".split())
_CURRENCY_BEFORE = re.compile(r"(?:rmb|usd|cny|hkd|eur|gbp|jpy)$")
_KUAI_AS_MONEY = re.compile(r"块(?:钱|\s*(?:以内|以下|以上|左右|上下|之内|内|到|至|-|~|起))")


@dataclass(frozen=True)
class NumberSpan:
    """A number found in text: where it is, its value, the multiplier it ended with and the unit after it."""

    start: int
    end: int
    value: float
    multiplier: float | None = None
    unit: str | None = None


def parse_zh_number(text: str) -> tuple[float, float | None] | None:
    """Value of a numeral run such as '两百', '一千二', '3千5', '1.5万', '1,299'; None when it is not a number.
    Also returns the multiplier the run ends with (1000 for '8千'), used to read ranges like '5到8千'."""
    total, section, digit, last_unit, zero_seen = 0.0, 0.0, None, None, False
    for piece in _PIECE.findall(text):
        if piece in ("零", "〇") and (section or total):
            zero_seen = True
        elif piece[0].isdigit() or piece in ZH_DIGITS:
            if digit is not None:
                return None
            digit = float(piece.replace(",", "")) if piece[0].isdigit() else float(ZH_DIGITS[piece])
        elif piece in ("十", "百", "千"):
            section += (1.0 if digit is None else digit) * ZH_UNITS[piece]
            digit, last_unit = None, ZH_UNITS[piece]
        elif piece == "万":
            total += (section + (digit or 0.0)) * 10000 or 10000.0
            section, digit, last_unit = 0.0, None, 10000
        else:
            return None
    if digit is not None:
        if last_unit is not None and last_unit >= 100 and not zero_seen and digit < 10:
            section += digit * (last_unit / 10)  # colloquial: 三百五 is 350
        else:
            section += digit
        return total + section, None
    return total + section, float(last_unit) if last_unit else None


def parse_en_number_words(words: list[str]) -> float | None:
    """Value of English number words ('twenty five', 'two hundred and fifty', 'a grand'), or None."""
    total, current, seen = 0.0, 0.0, False
    for i, word in enumerate(words):
        if word == "a" and i == 0 and len(words) > 1 and words[1] in EN_SCALES:
            current = 1.0
        elif word == "and" and seen and i + 1 < len(words):
            continue
        elif word in EN_SMALL:
            current += EN_SMALL[word]
        elif word in EN_TENS:
            current += EN_TENS[word]
        elif word == "hundred":
            current = (current or 1.0) * 100
        elif word in ("thousand", "grand"):
            total += (current or 1.0) * 1000
            current = 0.0
        else:
            return None
        seen = True
    return total + current if seen else None


def _unit_after(text: str, end: int, value: float) -> str | None:
    """The unit written right after a number (None when there is none or it is a currency)."""
    rest = text[end:end + 12]
    stripped = rest.lstrip(" ")
    if stripped.startswith("块"):
        return None if value >= 10 or _KUAI_AS_MONEY.match(stripped) else "块"
    for unit in ZH_UNITS_AFTER:
        if stripped.startswith(unit):
            return unit
    if rest[:1] in _SYMBOL_UNITS and not rest[1:2].isalpha():
        return rest[:1]
    word = _WORD.match(stripped)
    if word and word.group() in EN_UNITS and not (word.group() in _ATTACHED_ONLY and rest[:1] == " "):
        return word.group()
    return None


def _attached_letters(text: str, end: int) -> str:
    match = _WORD.match(text, end)
    return match.group() if match else ""


def _arabic_span(text: str, match: re.Match[str]) -> NumberSpan | None:
    start, end = match.span()
    parsed = parse_zh_number(match.group())
    if parsed is None:
        return None
    value, multiplier = parsed
    letters = _attached_letters(text, end)
    if letters in ("k", "w"):
        multiplier = 1000.0 if letters == "k" else 10000.0
        value, end = value * multiplier, end + 1
    elif letters in EN_UNITS:
        return NumberSpan(start, end, value, multiplier, letters)
    elif letters and letters not in CURRENCY_WORDS and letters != "ish":
        return None  # part of a model name: 15pro, 60s, 4090ti
    scale = re.match(r"\s+(hundred|thousand|grand)\b", text[end:])
    if scale and multiplier is None:
        multiplier = float(EN_SCALES[scale.group(1)])
        value, end = value * multiplier, end + scale.end()
    return NumberSpan(start, end, value, multiplier, _unit_after(text, end, value))


def _numeral_spans(text: str) -> list[NumberSpan]:
    spans: list[NumberSpan] = []
    for match in _RUN.finditer(text):
        start = match.start()
        before = text[start - 1] if start else ""
        glued = before.isalnum() and before.isascii() or before in (".", "_")
        if match.group()[0].isdigit() and glued and not _CURRENCY_BEFORE.search(text[:start]):
            continue  # part of a model name: p60, rtx4090, v1.5
        if before in ("几", "第") or text[match.end():match.end() + 1] == "几":
            continue
        span = _arabic_span(text, match)
        if span is not None:
            spans.append(span)
    return spans


def _word_spans(text: str) -> list[NumberSpan]:
    spans: list[NumberSpan] = []
    run: list[re.Match[str]] = []
    for match in _WORD.finditer(text):
        word = match.group()
        if run and word in _CONTINUE and text[run[-1].end():match.start()] in (" ", "-"):
            run.append(match)
            continue
        spans.extend(_close_word_run(text, run))
        run = [match] if word in _START else []
    spans.extend(_close_word_run(text, run))
    return spans


def _close_word_run(text: str, run: list[re.Match[str]]) -> list[NumberSpan]:
    while run and run[-1].group() in ("a", "and"):
        run = run[:-1]
    if not run:
        return []
    value = parse_en_number_words([m.group() for m in run])
    if value is None:
        return []
    start, end = run[0].start(), run[-1].end()
    return [NumberSpan(start, end, value, None, _unit_after(text, end, value))]


def find_numbers(text: str) -> list[NumberSpan]:
    """Every number in a normalised (lowercase, NFKC) text, left to right, with the unit that follows it."""
    spans = _numeral_spans(text) + _word_spans(text)
    spans.sort(key=lambda s: (s.start, -s.end))
    kept: list[NumberSpan] = []
    for span in spans:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept
