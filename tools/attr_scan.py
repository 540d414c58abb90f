"""Finding lexicon terms in a query: every candidate term, then the segmentation that covers the most text with
the fewest terms (so 笔记本电脑包 reads 笔记本 + 电脑包), each term's meaning in context, and negation scopes
(不要红色, not red, without apple)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from tools.attr_lexicon import KIND_PRIORITY, AttributeLexicon, Entry, latin_boundary_ok

_NEG_CUE = re.compile(
    r"(?:不想要|不需要|不喜欢|不要|不买|别要|别买|别|除了|除去|排除|不含|不是|不包括|不考虑|讨厌|拒绝|非|"
    r"isn'?t|aren'?t|is not|are not|not from|not by|not made by|don'?t want|do not want|don'?t like|"
    r"do not like|anything but|but not|other than|excluding|exclude|except|"
    r"without|avoid|never|w/o|not|non|no)"
    r"\s*-?\s*(?:the |any |a |an |in |要|是|那种|那个|这种)?\s*$")
_NEG_AFTER = re.compile(r"^\s*(?:的|色)?\s*(?:不要|不考虑|除外|免谈|pass)(?=$|[\s,.!?;，。！？；])")
_CONNECTOR = re.compile(r"^\s*(?:和|与|跟|及|或|或者|还有|也不要|、|,|/|&|and|or|nor)?\s*(?:的)?\s*$")
_HEAD_BREAK = re.compile(r"\s(?:for|with|compatible|to fit|fits)\s")
_COMPAT = re.compile(r"\s(?:for|compatible with|fits|to fit|works with)\s|适用于|适用|适配|兼容|专用于")
_STORAGE_BEFORE = re.compile(r"\d+(?:\.\d+)?\s*(?:gb|tb|mb|g|t|m)\s*$")
_WORDS = re.compile(r"[a-z0-9]+")
_COLOUR_LEAD = frozenset("要是纯浅深亮淡嫩暗")
_SOFT_NEXT = frozenset(" ,.!?;:/、，。！？；：的色款系)]】")
NEGATABLE = ("brand", "color")


@dataclass
class Match:
    """One lexicon term found in the query, with the meaning chosen for it."""

    start: int
    end: int
    text: str
    kind: str
    key: str
    generic: bool = False
    negated: bool = False


def _candidates(lex: AttributeLexicon, text: str) -> dict[int, list[tuple[int, list[Entry]]]]:
    """Every lexicon term in the text by start offset. A Latin term may touch a mixed-script term (vans + t恤
    in 'vanst恤'); otherwise Latin terms must not run into other Latin letters or digits."""
    raw: list[tuple[int, int, list[Entry]]] = []
    n = len(text)
    for i, ch in enumerate(text):
        for length in lex.lengths.get(ch, ()):
            end = i + length
            entries = lex.terms.get(text[i:end]) if end <= n else None
            if entries:
                raw.append((i, end, entries))
    mixed_starts = {i for i, end, _ in raw if not text[i:end].isascii() and text[i].isascii()}
    found: dict[int, list[tuple[int, list[Entry]]]] = defaultdict(list)
    for i, end, entries in raw:
        term_is_mixed = i in mixed_starts and not text[i:end].isascii()
        if term_is_mixed or latin_boundary_ok(text, i, end) or (
                end in mixed_starts and latin_boundary_ok(text, i, end, check_end=False)):
            found[i].append((end, entries))
    return found


def _cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def _stands_alone(text: str, start: int, end: int, found: dict, ends: set[int]) -> bool:
    """Both edges are a break, a non-Chinese character, or the edge of another lexicon term."""
    left = start == 0 or not _cjk(text[start - 1]) or start in ends
    return left and (end == len(text) or not _cjk(text[end]) or end in found)


def _single_colour_ok(lex: AttributeLexicon, text: str, i: int, found: dict, ends: set[int]) -> bool:
    """A one-character colour (红, 白…) counts only as a word of its own: after a break or another term, and
    before a break, 的/色, or a category/gender word (白T恤, 要红的) — not 粉 in 泡打粉."""
    if i > 0 and _cjk(text[i - 1]) and i not in ends and text[i - 1] not in _COLOUR_LEAD:
        return False
    j = i + 1
    if j >= len(text) or text[j] in _SOFT_NEXT:
        return True
    return any(e.kind in ("category", "gender") for _, entries in found.get(j, ()) for e in entries)


def _usable(lex: AttributeLexicon, text: str, start: int, end: int, entries: list[Entry], found: dict,
            ends: set[int]) -> bool:
    single_colour = end - start == 1 and text[start] in lex.single_colors
    if single_colour and all(e.kind in ("color", "block") for e in entries):
        return _single_colour_ok(lex, text, start, found, ends)
    if all(e.kind == "brand" and e.weak for e in entries):
        return _stands_alone(text, start, end, found, ends)
    return True


def _segment(lex: AttributeLexicon, text: str, found: dict) -> list[tuple[int, int, list[Entry]]]:
    """The non-overlapping terms covering the most characters with the fewest terms."""
    n = len(text)
    ends = {end for options in found.values() for end, _ in options}
    score: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
    back: list[tuple[int, list[Entry] | None] | None] = [None] * (n + 1)
    score[0] = (0, 0)
    for i in range(n):
        if score[i] > score[i + 1]:
            score[i + 1], back[i + 1] = score[i], (i, None)
        for end, entries in found.get(i, ()):
            if not _usable(lex, text, i, end, entries, found, ends):
                continue
            candidate = (score[i][0] + end - i, score[i][1] - 1)
            if candidate > score[end]:
                score[end], back[end] = candidate, (i, entries)
    picked: list[tuple[int, int, list[Entry]]] = []
    pos = n
    while pos > 0 and (step := back[pos]) is not None:
        start, entries = step
        if entries is not None:
            picked.append((start, pos, entries))
        pos = start
    return picked[::-1]


def resolve(lex: AttributeLexicon, text: str, term: str, entries: list[Entry]) -> Entry | None:
    """The meaning of a found term: brand before colour before gender before category; a brand word whose
    context says otherwise (苹果 next to 水果) is not a brand."""
    for entry in sorted((e for e in entries if e.kind != "block"), key=lambda e: KIND_PRIORITY[e.kind]):
        if entry.kind == "brand" and any(b in text for b in lex.brand_blocks.get(term, ())):
            continue
        return entry
    return None


def _split_category(lex: AttributeLexicon, text: str, m: Match) -> list[Match]:
    """白衬衫 → colour 白 + category 衬衫; 华为手机 → brand 华为 + category 手机 (Chinese compounds only)."""
    if m.kind != "category" or m.text.isascii() or len(m.text) < 3:
        return [m]
    for cut in range(1, len(m.text) - 1):
        head, tail = m.text[:cut], m.text[cut:]
        head_entry = resolve(lex, text, head, lex.terms.get(head, []))
        tail_entry = lex.lookup(tail, "category")
        if head_entry and head_entry.kind in ("color", "brand", "gender") and tail_entry:
            return [Match(m.start, m.start + cut, head, head_entry.kind, head_entry.key),
                    Match(m.start + cut, m.end, tail, "category", tail_entry.key, tail_entry.generic)]
    return [m]


def find_terms(lex: AttributeLexicon, text: str) -> list[Match]:
    """Every brand, colour, gender and category term of a normalised query, left to right."""
    found = _candidates(lex, text)
    matches: list[Match] = []
    for start, end, entries in _segment(lex, text, found):
        term = text[start:end]
        entry = resolve(lex, text, term, entries)
        if entry is not None:
            matches.extend(_split_category(lex, text, Match(start, end, term, entry.kind, entry.key,
                                                            entry.generic)))
    return matches


def mark_negations(text: str, matches: list[Match]) -> list[tuple[int, int]]:
    """Set `negated` on brands/colours inside a negation scope; returns the spans of the negation words."""
    cues: list[tuple[int, int]] = []
    prev_end, prev_negated = 0, False
    for m in matches:
        if m.kind not in NEGATABLE:
            prev_end, prev_negated = m.end, False
            continue
        gap = text[prev_end:m.start]
        cue = _NEG_CUE.search(gap)
        if cue and (cue.start() == 0 or not text[prev_end + cue.start() - 1].isalpha()
                    or not text[prev_end + cue.start()].isascii()):
            m.negated = True
            cues.append((prev_end + cue.start(), m.start))
        elif prev_negated and _CONNECTOR.match(gap):
            m.negated = True
            cues.append((prev_end, m.start))
        else:
            after = _NEG_AFTER.match(text[m.end:])
            if after:
                m.negated = True
                cues.append((m.end, m.end + after.end()))
        prev_end, prev_negated = m.end, m.negated
    return cues


def _device_in(lex: AttributeLexicon, text: str) -> str | None:
    """The kind of device (phone, tablet, laptop…) named in a piece of English text, if any."""
    words = _WORDS.findall(text)
    for i, word in enumerate(words):
        device = lex.devices.get(" ".join(words[i:i + 2])) or lex.devices.get(word)
        if device:
            return device
    return None


def _compose(lex: AttributeLexicon, text: str, head: Match) -> Match:
    """A generic head after a device word names the device's accessory: 'iphone 15 case' → phone case."""
    device = _device_in(lex, text[:head.start])
    for prefix in lex.device_prefixes.get(device or "", ()):
        entry = lex.lookup(f"{prefix} {head.text}", "category")
        if entry is not None:
            return Match(head.start, head.end, head.text, "category", entry.key, entry.generic)
    return head


def choose_category(lex: AttributeLexicon, text: str, cats: list[Match]) -> Match | None:
    """The head category of a query. English: the last category before 'for/with' (case for iphone), a generic
    head composed with a device word before it. Chinese: the last non-generic category word, since a Chinese
    compound's head comes last (热水壶水泵 is a pump, 笔记本电脑包 a bag)."""
    if not cats:
        return None
    specs = [m for m in cats if m.text in lex.spec_categories and _STORAGE_BEFORE.search(text[:m.start])]
    cats = [m for m in cats if m not in specs] or cats
    if all(m.text.isascii() for m in cats):
        brk = _HEAD_BREAK.search(text)
        pool = [m for m in cats if brk is None or m.end <= brk.start()] or cats
        head = pool[-1]
        return _compose(lex, text, head) if head.generic else head
    pool = [m for m in cats if not m.generic] or cats
    return pool[-1]


def mark_compatible_brands(text: str, matches: list[Match], category: Match | None) -> None:
    """A brand after 'for'/'适用于' that follows the product category names what the product fits (phone case for
    samsung, 手机壳 适用于华为), not who made it: it becomes kind 'compat' and stays in the free text."""
    found = _COMPAT.search(text)
    if found is None or category is None or category.end > found.start():
        return
    for m in matches:
        if m.kind == "brand" and not m.negated and m.start >= found.start():
            m.kind = "compat"
