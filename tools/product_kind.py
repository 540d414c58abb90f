"""The kind of product a title or a query names ("laptop" is a notebook, "laptop backpack" a backpack, "notebook
battery" a battery), read with lexicons of product-type phrases built from real catalogs
(scripts/build_product_kinds.py) and the attribute parser's category synonyms."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tools.package_files import package_path
from tools.text import has_cjk, normalize, stem_en

RESOURCES = package_path("tools", "resources")
MAX_EN_WORDS = 5
MAX_EN_GAP = 1
MAX_ZH_CHARS = 8
# English: what follows these names what the product is for or comes with, not what it is
_EN_CUT = re.compile(r"\b(?:for|with|compatible|fits|incl|including|under|below|less than)\b|[,(\[;|]| - ")
_EN_WORD = re.compile(r"[a-z][a-z0-9&'+-]*|\d+[a-z]*")
# Chinese: what follows 适用/适合/用于/配 is what the product fits
_ZH_CUT = re.compile(r"适用于|适用|适合|用于|专用|兼容")


@dataclass
class KindLexicon:
    """Product-type phrases (normalised) mapped to a canonical kind."""

    en: dict[str, str] = field(default_factory=dict)
    zh: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> KindLexicon:
        """The shipped lexicons plus the attribute parser's English category synonyms (laptop -> notebook)."""
        lex = cls()
        for phrase in _read_tsv(RESOURCES / "product_kinds_en.tsv"):
            canonical = _en_key(phrase)
            lex.en.setdefault(canonical, canonical)
            head = canonical.split()[-1]
            if len(head) > 2 and not head.isdigit():
                lex.en.setdefault(head, head)
        words = json.loads((RESOURCES / "attribute_words.json").read_text(encoding="utf-8"))
        for target, aliases in words.get("category_synonyms", {}).items():
            key = _en_key(re.sub(r"\s*\(.*\)", "", target))
            if not key or has_cjk(key):
                continue
            lex.en[key] = lex.en.get(key, key)
            for alias in aliases:
                lex.en[_en_key(alias)] = lex.en[key]
        for phrase in _read_tsv(RESOURCES / "product_kinds_zh.tsv"):
            lex.zh.setdefault(normalize(phrase), normalize(phrase))
        for phrase in _zh_categories():
            lex.zh.setdefault(phrase, phrase)
        return lex

    def kind_of(self, text: str) -> str | None:
        """The kind a title or query names, or None."""
        text = normalize(text)
        if has_cjk(text):
            return self._zh_kind(text)
        return self._en_kind(text)

    def _en_kind(self, text: str) -> str | None:
        """The last phrase of the first run of kind phrases (one other word may stand between two: "laptop
        privacy filter"), before for/with/a comma: compound heads are on the right, "notebook battery" is a
        battery, "notebook silver 43.2 cm" a notebook."""
        words = [stem_en(w) for w in _EN_WORD.findall(_EN_CUT.split(text, maxsplit=1)[0])]
        i, kind, gap = 0, None, 0
        while i < len(words):
            match = self._longest_en(words, i)
            if match is None:
                gap += kind is not None
                if gap > MAX_EN_GAP:
                    break
                i += 1
                continue
            kind, i, gap = self.en[" ".join(words[i:match])], match, 0
        return kind

    def _longest_en(self, words: list[str], start: int) -> int | None:
        for end in range(min(len(words), start + MAX_EN_WORDS), start, -1):
            if " ".join(words[start:end]) in self.en:
                return end
        return None

    def _zh_kind(self, text: str) -> str | None:
        """The kind term that occurs most often (the rightmost among equals) before a 适用/专用 clause; a title
        that starts with one is read after it."""
        parts = [p for p in _ZH_CUT.split(text) if p.strip()]
        if not parts:
            return None
        found = self.zh_terms(parts[0]) or self.zh_terms(text)
        if not found:
            return None
        counts: dict[str, int] = {}
        for term in found:
            counts[term] = counts.get(term, 0) + 1
        best = max(counts.values())
        return [t for t in found if counts[t] == best][-1]

    def zh_terms(self, text: str) -> list[str]:
        """Kind terms in a Chinese text, longest first at each position, left to right (no overlaps)."""
        found, i = [], 0
        compact = text.replace(" ", "")
        while i < len(compact):
            for end in range(min(len(compact), i + MAX_ZH_CHARS), i + 1, -1):
                if compact[i:end] in self.zh:
                    found.append(self.zh[compact[i:end]])
                    i = end
                    break
            else:
                i += 1
        return found


def kind_head(kind: str | None) -> str | None:
    """The head of a kind: its last word in English, its last two characters in Chinese."""
    if not kind:
        return None
    return kind[-2:] if has_cjk(kind) else kind.split()[-1]


def same_kind(a: str | None, b: str | None) -> bool:
    """True when two kinds are the same or share their head (notebook case ~ case, 蓝牙耳机 ~ 耳机)."""
    if not a or not b:
        return False
    return a == b or kind_head(a) == kind_head(b)


def _en_key(phrase: str) -> str:
    return " ".join(stem_en(w) for w in _EN_WORD.findall(normalize(phrase)))


def _read_tsv(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[0] for line in lines if line and not line.startswith("#")]


def _zh_categories() -> list[str]:
    path = RESOURCES / "attribute_terms_zh.tsv"
    rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    return [normalize(r[1]) for r in rows if len(r) == 2 and r[0] == "category" and len(r[1]) > 1]


@lru_cache(maxsize=1)
def default_lexicon() -> KindLexicon:
    """The shipped kind lexicon, loaded once per process."""
    return KindLexicon.load()
