"""The tables the Chinese spell corrector scores with (character n-grams, words and their tags, observed
confusion pairs, readings), read from the shipped resources, and the pinyin helpers that build and query them."""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tools.package_files import package_path

RESOURCES = package_path("tools", "resources")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
            "c", "s", "y", "w")
FUZZY_INITIALS = {"zh": "z", "z": "zh", "ch": "c", "c": "ch", "sh": "s", "s": "sh", "n": "l", "l": "n"}
FUZZY_FINALS = {"in": "ing", "ing": "in", "en": "eng", "eng": "en", "an": "ang", "ang": "an", "ian": "iang",
                "iang": "ian", "uan": "uang", "uang": "uan"}


@dataclass
class ZhTables:
    """Counts the Chinese corrector scores with: character n-grams, words, tags, confusion pairs, readings."""

    ngrams: dict[str, int]
    words: dict[str, int]
    tags: dict[str, str]
    confusion: dict[str, dict[str, int]]
    readings: dict[str, tuple[str, ...]]
    common: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)

    @classmethod
    def from_resources(cls, directory: Path = RESOURCES) -> ZhTables:
        """Read the shipped TSV resources (see tools/resources/SOURCE.md)."""
        ngrams = {g: int(c) for g, c in _rows(directory / "zh_ngrams.tsv.gz", 2)}
        words: dict[str, int] = {}
        tags: dict[str, str] = {}
        for word, count, tag in _rows(directory / "zh_words.tsv.gz", 3):
            words[word] = int(count)
            if tag:
                tags[word] = tag
        confusion: dict[str, dict[str, int]] = {}
        for wrong, right, count in _rows(directory / "zh_confusion.tsv", 3):
            confusion.setdefault(wrong, {})[right] = int(count)
        readings: dict[str, tuple[str, ...]] = {}
        common: set[str] = set()
        for ch, reading, flag in _rows(directory / "zh_chars.tsv", 3):
            readings[ch] = tuple(reading.split(","))
            if flag:
                common.add(ch)
        return cls(ngrams, words, tags, confusion, readings, common)

    def add_text(self, texts: Iterable[str], weight: int = 1) -> None:
        """Count the character n-grams of more text (catalog titles, query logs) into the model."""
        for text in texts:
            for run in CJK_RUN.findall(normalize_zh(text)):
                padded = "^" + run + "$"
                for n in (1, 2, 3):
                    for i in range(len(padded) - n + 1):
                        gram = padded[i:i + n]
                        self.ngrams[gram] = self.ngrams.get(gram, 0) + weight

    def add_words(self, words: Iterable[str], count: int = 200, protected: bool = False) -> list[str]:
        """Add terms to the lexicon (and their text to the n-grams); returns the Chinese terms taken."""
        taken = []
        for word in words:
            word = normalize_zh(word)
            if not CJK_RUN.fullmatch(word) or len(word) > 12:
                continue
            self.words[word] = max(self.words.get(word, 0), count)
            for ch in word:
                if ch not in self.readings:
                    self.readings[ch] = char_readings(ch)
            if protected and len(word) >= 2:
                self.protected.add(word)
            taken.append(word)
        self.add_text(taken, weight=2)
        return taken


def _rows(path: Path, width: int) -> Iterable[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == width:
                yield parts


def normalize_zh(text: str) -> str:
    """NFKC and lowercase, as the resources were built."""
    return unicodedata.normalize("NFKC", text).lower()


def toneless(reading: str) -> str:
    """'zhōng' -> 'zhong', 'lǜ' -> 'lv'."""
    base = unicodedata.normalize("NFD", reading.replace("ü", "v"))
    return "".join(ch for ch in base if not unicodedata.combining(ch))


def char_readings(ch: str) -> tuple[str, ...]:
    """Toneless pinyin readings of one character, from pypinyin."""
    from pypinyin.pinyin_dict import pinyin_dict

    raw = pinyin_dict.get(ord(ch), "")
    return tuple(dict.fromkeys(toneless(r) for r in raw.split(",") if r))


def fuzzy_variants(syllable: str) -> set[str]:
    """Near-homophones of a toneless syllable: zh/z, ch/c, sh/s, n/l, in/ing, en/eng, an/ang (and ian, uan)."""
    initial = next((i for i in INITIALS if syllable.startswith(i)), "")
    final = syllable[len(initial):]
    initials = {initial, FUZZY_INITIALS.get(initial, initial)}
    finals = {final, FUZZY_FINALS.get(final, final)}
    return {i + f for i in initials for f in finals} - {syllable}


def context_totals(ngrams: dict[str, int]) -> dict[str, tuple[int, int]]:
    """For each 1- and 2-character context: (total count of the n-grams that extend it, distinct extensions)."""
    totals: dict[str, list[int]] = {}
    for gram, count in ngrams.items():
        if len(gram) > 1:
            entry = totals.setdefault(gram[:-1], [0, 0])
            entry[0] += count
            entry[1] += 1
    return {ctx: (total, n) for ctx, (total, n) in totals.items()}
