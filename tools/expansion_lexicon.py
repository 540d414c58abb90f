"""The expansion lexicon: interchangeable product words (zh and en), brand aliases (耐克 = Nike) and brand ->
product words, turned into rewrites of a query by replacing or completing the terms it contains.

Sources (tools/resources/SOURCE.md): the hand-written synonym groups `expansion_synonyms.tsv`, the brand alias
table `brand_aliases.json`, the English category synonyms of `attribute_words.json`, brand/product pairs tagged
together in the lexicon_zh_ecom titles (`expansion_brand_products_zh.tsv`) and, when built for a catalog, the
catalog's own brand -> category counts."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tools.core.types import Product
from tools.package_files import package_path
from tools.text import has_cjk, normalize

RESOURCES = package_path("tools", "resources")
MAX_ALTERNATIVES = 3
MAX_BRAND_PRODUCTS = 2
_WORD_EDGE = re.compile(r"[a-z0-9]")


def _clean(term: str) -> str:
    return normalize(term).strip()


def _usable(term: str) -> bool:
    """Very short Latin aliases ('mi', 'hp' as a replacement) and single CJK characters say too little."""
    return len(term) >= 2 and not (term.isascii() and len(term) <= 2)


def read_groups(path: Path) -> list[list[str]]:
    """Synonym groups of a file with one group per line, terms separated by '|' ('#' starts a comment)."""
    groups = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        terms = [_clean(t) for t in line.split("|") if _clean(t)]
        if len(terms) >= 2:
            groups.append(terms)
    return groups


def brand_groups(path: Path) -> list[list[str]]:
    """Alias groups of brand_aliases.json (display name plus every alias)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [[_clean(b["name"]), *(_clean(a) for a in b["aliases"])] for b in data["brands"]]


def category_groups(path: Path) -> list[list[str]]:
    """English category synonym groups of attribute_words.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [[_clean(name), *(_clean(s) for s in synonyms)] for name, synonyms in data["category_synonyms"].items()]


def brand_products(path: Path, top: int = MAX_BRAND_PRODUCTS) -> dict[str, list[str]]:
    """Brand -> its most frequently co-tagged product words (`brand<TAB>product<TAB>count` rows)."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].isdigit():
            found[_clean(parts[0])][_clean(parts[1])] += int(parts[2])
    return {b: [p for p, _ in c.most_common(top)] for b, c in found.items()}


@dataclass
class Match:
    """One lexicon term found in a query."""

    start: int
    end: int
    term: str


@dataclass
class ExpansionLexicon:
    """Term -> interchangeable terms, brand spellings -> product words; `rewrites(text)` gives candidates."""

    alternatives: dict[str, list[str]] = field(default_factory=dict)
    brands: set[str] = field(default_factory=set)
    products_of_brand: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_groups(cls, groups: Iterable[list[str]], brands: Iterable[list[str]] = (),
                    products_of_brand: dict[str, list[str]] | None = None) -> ExpansionLexicon:
        """A lexicon from synonym groups and brand alias groups (a term may sit in several groups)."""
        alternatives: dict[str, list[str]] = defaultdict(list)
        brand_terms: set[str] = set()
        for group, is_brand in [*((g, False) for g in groups), *((g, True) for g in brands)]:
            usable = list(dict.fromkeys(t for t in group if _usable(t)))
            for term in usable:
                alternatives[term].extend(t for t in usable if t != term and t not in alternatives[term])
            if is_brand:
                brand_terms.update(usable)
        return cls(dict(alternatives), brand_terms, dict(products_of_brand or {}))

    def add_catalog(self, products: Iterable[Product], top: int = MAX_BRAND_PRODUCTS) -> None:
        """Learn brand -> category from the catalog (its most common categories per brand come first)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for p in products:
            if p.brand and p.category:
                counts[_clean(p.brand)][_clean(p.category)] += 1
        spelling_of = {a: b for b in counts for a in [b, *self.alternatives.get(b, [])]}
        for brand, categories in counts.items():
            learned = [c for c, n in categories.most_common(top) if n >= 2 and c != brand]
            for spelling in {brand, *(a for a, b in spelling_of.items() if b == brand)}:
                merged = learned + [c for c in self.products_of_brand.get(spelling, []) if c not in learned]
                self.products_of_brand[spelling] = merged[:top]
            self.brands.add(brand)

    def find(self, text: str) -> list[Match]:
        """Non-overlapping lexicon terms in the text, longest first (Latin terms on word edges only)."""
        taken = [False] * len(text)
        found: list[Match] = []
        terms = {t for t in self.alternatives if t in text} | {b for b in self.products_of_brand if b in text}
        for term in sorted(terms, key=lambda t: (-len(t), t)):
            for m in re.finditer(re.escape(term), text):
                start, end = m.span()
                if any(taken[start:end]) or not _on_edges(text, start, end, term):
                    continue
                found.append(Match(start, end, term))
                taken[start:end] = [True] * (end - start)
        return sorted(found, key=lambda m: m.start)

    def rewrites(self, text: str, limit: int = 6) -> list[str]:
        """Candidate rewrites: each found term replaced by an alternative (same script first), and a bare brand
        completed with its product words; at most `limit`, in that order, never the text itself."""
        text = normalize(text)
        matches = self.find(text)
        out: list[str] = []
        for match in matches:
            for alt in self._ranked_alternatives(match.term)[:MAX_ALTERNATIVES]:
                out.append(_squeeze(text[:match.start] + _spaced(text, match, alt) + text[match.end:]))
        if len(matches) == 1 and _rest_is_empty(text, matches[0]):
            out.extend(f"{text} {p}" for p in self.products_of_brand.get(matches[0].term, []))
        return list(dict.fromkeys(r for r in out if r and r != text))[:limit]

    def _ranked_alternatives(self, term: str) -> list[str]:
        same = [a for a in self.alternatives.get(term, []) if has_cjk(a) == has_cjk(term)]
        other = [a for a in self.alternatives.get(term, []) if has_cjk(a) != has_cjk(term)]
        return same[:MAX_ALTERNATIVES - 1] + other[:1] + same[MAX_ALTERNATIVES - 1:]


def _on_edges(text: str, start: int, end: int, term: str) -> bool:
    if has_cjk(term[0]) and has_cjk(term[-1]):
        return True
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (_WORD_EDGE.match(before) and _WORD_EDGE.match(term[0])) and \
        not (_WORD_EDGE.match(after) and _WORD_EDGE.match(term[-1]))


def _spaced(text: str, match: Match, alt: str) -> str:
    """The alternative with spaces where a Latin word would otherwise touch a neighbour."""
    left = " " if match.start > 0 and _WORD_EDGE.match(text[match.start - 1]) and _WORD_EDGE.match(alt[0]) else ""
    right = " " if match.end < len(text) and _WORD_EDGE.match(text[match.end]) and _WORD_EDGE.match(alt[-1]) \
        else ""
    return left + alt + right


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _rest_is_empty(text: str, match: Match) -> bool:
    return not (text[:match.start] + text[match.end:]).strip()


def load_lexicon(directory: Path = RESOURCES, products: Iterable[Product] | None = None) -> ExpansionLexicon:
    """The lexicon of the shipped resources, plus brand -> category learned from a catalog when given."""
    groups = read_groups(directory / "expansion_synonyms.tsv") + category_groups(directory / "attribute_words.json")
    lexicon = ExpansionLexicon.from_groups(groups, brand_groups(directory / "brand_aliases.json"),
                                           brand_products(directory / "expansion_brand_products_zh.tsv"))
    if products is not None:
        lexicon.add_catalog(products)
    return lexicon
