"""Rule-based slots of the attribute parser: clothing and shoe sizes (XL, 42码, size 10, 2T, 32 waist) and the
clean-up that turns what is left of a query into its free-text product query."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LETTER = r"(?:xxxxl|xxxl|xxl|xl|xxs|xs|[2-6]xl|s|m|l)"
_NUMBER = r"\d{1,3}(?:\.5)?"
_WORD_SIZES = {"small": "S", "medium": "M", "large": "L", "extra large": "XL", "x-large": "XL",
               "extra small": "XS", "x-small": "XS", "xx-large": "XXL"}
SIZE_PATTERNS = [
    re.compile(rf"(?<![a-z])(?:size|sz|尺码|码数|码子|尺寸码)\s*[:：]?\s*(?P<v>{_LETTER}|{_NUMBER}|[2-6]t)(?![a-z0-9.])"),
    re.compile(r"(?<![a-z])size\s+(?P<w>extra large|x-large|xx-large|extra small|x-small|small|medium|large)\b"),
    re.compile(r"(?<![a-z0-9.])(?P<v>\d{2}\s*[-~～到]\s*\d{2})\s*码"),
    re.compile(rf"(?<![a-z0-9.])(?P<v>{_LETTER}|{_NUMBER})\s*码"),
    re.compile(rf"(?<![a-z0-9.])(?P<v>{_LETTER})\s*号(?!电池|球|楼|线|店|机|字|门|院|床|位|卡|笔|刀)"),
    re.compile(r"(?<![a-z0-9])(?:eu|us|uk|cn|欧码|美码|英码)\s*(?P<v>\d{1,2}(?:\.5)?)(?![\d.$])"
               r"(?!\s*(?:dollars?|bucks?|元|块|usd))"),
    re.compile(r"(?<![a-z0-9.])(?P<v>xl|xxl|xxxl|xxxxl|[2-6]xl|[2-5]t)(?![a-z0-9])"),
    re.compile(r"(?:waist|腰围)\s*(?P<v>\d{2})(?!\d)"),
    re.compile(r"(?<![\d.])(?P<v>\d{2})\s*(?:inch\s+)?(?:waist|腰围)"),
]
# Only read as sizes when the query is about clothing or shoes: 42号 (not 5号电池, 99号记号笔, a 7号 jersey),
# XS (not an iPhone XS), a bare S/M/L (卫衣 女 M), 32x30, w32.
WEAR_SIZE_PATTERNS = [
    re.compile(r"(?<![a-z0-9.])(?P<v>1[5-9]|[2-9]\d|1\d\d|2[0-4]\d)\s*号(?!电池|球|楼|线|店|机|字|门|院|床|位|卡|笔|刀)"),
    re.compile(r"(?<![a-z0-9.])(?P<v>xxs|xs)(?![a-z0-9])"),
    re.compile(r"(?<![a-z0-9.'&])(?P<v>s|m|l)(?![a-z0-9'&])"),
    re.compile(r"(?<![a-z0-9])w(?P<v>\d{2})(?:\s*l\d{2})?(?![\d])"),
    re.compile(r"(?<![\d.x])(?P<v>(?:2[4-9]|3\d|4[0-4])\s*[x×]\s*(?:2[4-9]|3\d))(?![\d])"),
]
WEAR_WORDS = re.compile(r"[鞋衣裤裙服衫袜靴]|shoe|sneaker|boot|shirt|tee|dress|jean|pant|trouser|short|skirt|"
                        r"jacket|coat|hoodie|sweater|sock|bra\b|legging|sandal|slipper|polo|vest|blazer|suit")
_FILLER_EN = re.compile(
    r"^(?:(?:i(?:'m| am)? (?:want|need|would like|am looking for|looking for)|looking for|show me|find me|find|"
    r"search for|search|buy|get me|i want to buy|do you have|any|some|a|an|the|please)\s+)+")
_FILLER_ZH = re.compile(r"^(?:我想买|我想要|我要买|想买|想要|我要|帮我找|帮我|给我|求推荐|求|推荐|有没有|找|买)+")
_EDGE_WORDS = frozenset(
    "for in with and or but of the a an that which is are cost costs priced price at from to by please size "
    "budget max range around about under over between than".split())
_ZH_EDGE = re.compile(r"^[的和或与跟是要在,，、。.!?！？;；:：\-/~]+|[的和或与跟是要在,，、。.!?！？;；:：\-/~]+$")
_ZH_NOISE = re.compile(r"(?:价格|价位|预算|价钱|的价格|都行|都可以|就行|即可|就好|左右|之间|元|块钱|块)(?=\s|$)")
_SPACES = re.compile(r"\s+")
_SYMBOLS = re.compile(r"[^\w\s'&+./#-]")  # emoji, pictographs and stray symbols
_ORPHAN_DE = re.compile(r"(?:(?<=\s)|^)的|的(?=\s|$)")


@dataclass(frozen=True)
class SizeMatch:
    """A size found in the query: the value as reported and where it was written."""

    value: str
    start: int
    end: int


def _size_value(match: re.Match[str]) -> str:
    word = match.groupdict().get("w")
    if word:
        return _WORD_SIZES[word]
    value = re.sub(r"\s+", "", match.group("v")).upper().replace("×", "X")
    return re.sub(r"[~～到]", "-", value)


def find_size(text: str, wear: bool = False) -> SizeMatch | None:
    """The first size written in a normalised query, or None; `wear` admits the forms only clothing uses."""
    best: SizeMatch | None = None
    for pattern in SIZE_PATTERNS + (WEAR_SIZE_PATTERNS if wear else []):
        match = pattern.search(text)
        if match and (best is None or match.start() < best.start):
            best = SizeMatch(_size_value(match), match.start(), match.end())
    if best and re.fullmatch(r"\d{2}X\d{2}", best.value):
        best = SizeMatch(best.value.lower(), best.start, best.end)
    return best


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the given spans replaced by spaces (offsets of everything else unchanged)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _strip_edge_words(text: str) -> str:
    words = text.split(" ")
    while words and words[0] in _EDGE_WORDS:
        words.pop(0)
    while words and words[-1] in _EDGE_WORDS:
        words.pop()
    return " ".join(words)


def clean_rest(text: str) -> str:
    """Tidy what is left of a query after slots are removed: drop filler, dangling particles and spaces."""
    text = _SYMBOLS.sub(" ", _ZH_NOISE.sub(" ", text))
    text = _SPACES.sub(" ", text).strip()
    for _ in range(3):
        before = text
        text = _FILLER_EN.sub("", text)
        text = _FILLER_ZH.sub("", text)
        text = _strip_edge_words(text)
        text = _ZH_EDGE.sub("", text).strip()
        text = _ORPHAN_DE.sub(" ", text)
        text = _SPACES.sub(" ", text).strip(" ,.;:!?-/'\"")
        if text == before:
            break
    return text
