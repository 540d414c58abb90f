"""Lexicons for the attribute parser: brands (catalog brands joined with a zh↔en alias table), categories (catalog
categories, English synonyms, a Chinese e-commerce product list), colours, gender words, and phrases that look
like colours but are not (蓝牙, green tea). Built once per catalog; lookups are plain dict hits."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from tools.core.types import Product
from tools.package_files import package_path
from tools.text import normalize

RESOURCES = package_path("tools", "resources")
KIND_PRIORITY = {"brand": 0, "color": 1, "gender": 2, "category": 3}
_MEASURE = re.compile(r"^\d+(?:\.\d+)?\s*(?:m|cm|mm|gb|tb|w|v|k|g|p|x)$")
_PAREN = re.compile(r"\s*\(([^)]*)\)")
_LATIN_EDGE = re.compile(r"[a-z0-9]")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Entry:
    """What a term means: its kind (brand, color, category, gender, block) and its canonical key. A weak brand
    (from the catalog or the e-commerce gazetteer, not the curated alias table) must stand on its own: it is not
    read inside a longer unknown Chinese word (康美 in 艾康美)."""

    kind: str
    key: str
    generic: bool = False
    weak: bool = False


@dataclass
class AttributeLexicon:
    """Term → meanings, plus the canonical display names the parser reports."""

    terms: dict[str, list[Entry]] = field(default_factory=dict)
    brand_display: dict[str, str] = field(default_factory=dict)
    brand_spellings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    brand_blocks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    category_display: dict[str, str] = field(default_factory=dict)
    catalog_categories: set[str] = field(default_factory=set)
    catalog_brands: set[str] = field(default_factory=set)
    single_colors: frozenset[str] = frozenset()
    color_parents: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    spec_categories: frozenset[str] = frozenset()
    device_prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, term: str, entry: Entry) -> None:
        """Register one meaning of a term (normalised); duplicates are ignored."""
        term = normalize(term.replace("’", "'"))
        if not term:
            return
        entries = self.terms.setdefault(term, [])
        if entry not in entries:
            entries.append(entry)

    def finish(self) -> AttributeLexicon:
        """Index term lengths by first character (for fast scanning); call after the last add."""
        by_first: dict[str, set[int]] = defaultdict(set)
        for term in self.terms:
            by_first[term[0]].add(len(term))
        self.lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in by_first.items()}
        return self

    def lookup(self, term: str, kind: str) -> Entry | None:
        """The meaning of a term of one kind, if it has one."""
        for entry in self.terms.get(normalize(term), ()):
            if entry.kind == kind:
                return entry
        return None


@lru_cache(maxsize=4)
def load_json(name: str) -> dict:
    """A JSON resource shipped with the parser (read once per process)."""
    return json.loads((RESOURCES / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=2)
def load_zh_terms(name: str = "attribute_terms_zh.tsv") -> tuple[tuple[str, str], ...]:
    """(kind, term) pairs of the Chinese e-commerce brand/product list (empty if the file is absent)."""
    path = RESOURCES / name
    if not path.is_file():
        return ()
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "\t" in line:
            kind, term = line.split("\t", 1)
            rows.append((kind, term))
    return tuple(rows)


_IRREGULAR_PLURALS = {"mouse": "mice", "knife": "knives", "shelf": "shelves", "leaf": "leaves", "foot": "feet",
                      "tooth": "teeth"}


def plural(word: str) -> str:
    """English plural of a noun phrase's last word: 'toner cartridge' → 'toner cartridges', 'mouse' → 'mice'."""
    head, _, last = word.rpartition(" ")
    if last in _IRREGULAR_PLURALS:
        return f"{head} {_IRREGULAR_PLURALS[last]}" if head else _IRREGULAR_PLURALS[last]
    if word.endswith(("s", "x", "ch", "sh", "z")):
        return word + "es"
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _usable_brand(term: str, stoplist: frozenset[str]) -> bool:
    return len(term) >= 2 and not term.isdigit() and term not in stoplist and not _MEASURE.match(term)


def _alias_table(lex: AttributeLexicon, aliases: dict) -> dict[str, str]:
    """Spelling → brand key for the curated zh↔en table; display names default to the table's names."""
    alias_key: dict[str, str] = {}
    for group in aliases["brands"]:
        key = normalize(group["name"])
        lex.brand_display.setdefault(key, group["name"])
        for alias in [group["name"], *group["aliases"]]:
            alias_key[normalize(alias)] = key
    return alias_key


def _add_catalog_brands(lex: AttributeLexicon, products: list[Product], alias_key: dict[str, str],
                        stoplist: frozenset[str]) -> None:
    """Join catalog brands to the alias table; a brand's display name is its most frequent catalog spelling."""
    counts: Counter[tuple[str, str]] = Counter()
    for product in products:
        brand = product.brand or ""
        spelled = normalize(brand)
        if _usable_brand(spelled, stoplist):
            counts[(alias_key.get(spelled, spelled), brand.strip())] += 1
    best: dict[str, tuple[int, str]] = {}
    for (key, raw), count in counts.items():
        lex.catalog_brands.add(key)
        alias_key.setdefault(normalize(raw), key)
        if count > best.get(key, (0, ""))[0]:
            best[key] = (count, raw)
    lex.brand_display.update({key: raw for key, (_, raw) in best.items()})


def _add_brands(lex: AttributeLexicon, products: list[Product], words: dict, aliases: dict) -> None:
    stoplist = frozenset(normalize(w) for w in words["catalog_brand_stoplist"])
    devices = frozenset(normalize(t) for ts in words["device_words"].values() for t in ts)
    alias_key = _alias_table(lex, aliases)
    curated = set(alias_key.values())
    _add_catalog_brands(lex, products, alias_key, stoplist)
    for kind, term in load_zh_terms():
        norm = normalize(term)
        if kind == "brand" and norm not in alias_key and norm not in devices and _usable_brand(norm, stoplist):
            alias_key[norm] = norm
            lex.brand_display.setdefault(norm, term)
    for alias, key in alias_key.items():
        lex.add(alias, Entry("brand", key, weak=key not in curated and not alias.isascii()))
        lex.brand_spellings[key].add(alias)
    lex.brand_blocks = {normalize(k): tuple(normalize(v) for v in vs)
                        for k, vs in aliases.get("context_blocks", {}).items() if vs}


def _category_variants(name: str) -> tuple[list[str], list[str]]:
    """Ways a catalog category may be written: (as is and plural; parts, bare name and abbreviation)."""
    norm = normalize(name)
    main, extra = [norm], []
    abbrev = _PAREN.search(norm)
    if abbrev:
        extra.append(_PAREN.sub("", norm).strip())
        if len(abbrev.group(1)) >= 2 and not any(ch in abbrev.group(1) for ch in "<=>"):
            extra.append(abbrev.group(1).strip())
    elif "/" in norm:
        extra.extend(part.strip() for part in norm.split("/") if " " in part.strip())  # single words mislead
    if norm.isascii():
        main.extend(plural(v) for v in list(main) if v[-1:].isalpha())
        extra.extend(plural(v) for v in list(extra) if v[-1:].isalpha())
    return main, extra


def _catalog_categories(products: list[Product]) -> dict[str, str]:
    """Catalog category key → its most frequent spelling. A Latin-script category of a product whose title is
    Chinese (an 'iphone' category on a Taobao phone-case title) is left out: it names a model, not a type."""
    counts: Counter[tuple[str, str]] = Counter()
    for product in products:
        if product.category and not (product.category.isascii() and _CJK.search(product.title)):
            counts[(normalize(product.category), product.category.strip())] += 1
    best: dict[str, tuple[int, str]] = {}
    for (key, raw), count in counts.items():
        if count > best.get(key, (0, ""))[0]:
            best[key] = (count, raw)
    return {key: raw for key, (_, raw) in best.items()}


def _add_categories(lex: AttributeLexicon, products: list[Product], words: dict) -> None:
    stoplist = frozenset(normalize(w) for w in words["category_stoplist"])
    generic = frozenset(normalize(w) for w in words["generic_categories"])

    def add(term: str, key: str, only_if_new: bool = False) -> None:
        term = normalize(term)
        if term in stoplist or len(term) < 2 or (only_if_new and lex.lookup(term, "category")):
            return
        lex.add(term, Entry("category", key, generic=term in generic or key in generic))

    catalog = _catalog_categories(products)
    variants = {key: _category_variants(raw) for key, raw in catalog.items()}
    for key, raw in catalog.items():
        lex.catalog_categories.add(key)
        lex.category_display[key] = raw
        for term in variants[key][0]:
            add(term, key)
    for key, (_, extra) in variants.items():
        for term in extra:
            add(term, key, only_if_new=True)
    for target, synonyms in words["category_synonyms"].items():
        key = normalize(target)
        lex.category_display.setdefault(key, target)
        for synonym in [target, *synonyms]:
            for variant in {normalize(synonym), plural(normalize(synonym))}:
                add(variant, key, only_if_new=variant != normalize(synonym))
    zh_terms = [*words["zh_categories"], *(t for kind, t in load_zh_terms() if kind == "category")]
    for term in zh_terms:
        lex.category_display.setdefault(normalize(term), term)
        add(term, normalize(term), only_if_new=True)


def _add_words(lex: AttributeLexicon, words: dict) -> None:
    for color, terms in words["colors"].items():
        for term in terms:
            lex.add(term, Entry("color", color))
    for gender, terms in words["gender"].items():
        for term in terms:
            lex.add(term, Entry("gender", gender))
    for term in words["not_colors"]:
        lex.add(term, Entry("block", ""))
    lex.single_colors = frozenset(words["single_char_colors"])
    lex.color_parents = dict(words["color_parents"])
    for device, terms in words["device_words"].items():
        for term in terms:
            lex.devices[normalize(term)] = device
    lex.device_prefixes = {k: tuple(v) for k, v in words["device_prefixes"].items()}
    lex.spec_categories = frozenset(normalize(w) for w in words["spec_categories"])


def build_lexicon(products: Iterable[Product]) -> AttributeLexicon:
    """All lexicons for a catalog: its brands, categories and colours plus the shipped word lists."""
    products = list(products)
    words, aliases = load_json("attribute_words.json"), load_json("brand_aliases.json")
    lex = AttributeLexicon()
    _add_words(lex, words)
    _add_brands(lex, products, words, aliases)
    _add_categories(lex, products, words)
    for product in products:
        if product.color:
            lex.add(product.color, Entry("color", normalize(product.color)))
    return lex.finish()


def latin_boundary_ok(text: str, start: int, end: int, check_end: bool = True) -> bool:
    """A term that starts or ends with a Latin letter/digit must not run into another one."""
    if _LATIN_EDGE.match(text[start]) and start > 0 and _LATIN_EDGE.match(text[start - 1]):
        return False
    runs_on = end < len(text) and _LATIN_EDGE.match(text[end - 1]) and _LATIN_EDGE.match(text[end])
    return not (check_end and runs_on)
