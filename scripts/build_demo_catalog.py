#!/usr/bin/env python3
"""Build the bilingual demo catalog shipped in ``assistant/data/demo_catalog.jsonl``.

Sources (read-only, see ``assistant/data/SOURCE.md`` for attribution and licences):

* English: the Icecat electronics catalog published by querqy/chorus
  (``catalog_en_icecat/products.tsv`` plus the full JSON in ``full_json_zip/{1..4}.json.zip``).
* Chinese: Taobao product titles with BIO tags (``catalog_zh_taobao_titles/data/ecommerce/*.txt``).

The output is deterministic: the same inputs give byte-identical output on every run. No randomness
is used; every sampling or synthetic value is derived from a SHA-256 hash of the product id.

Usage::

    python3 scripts/build_demo_catalog.py                      # demo catalog (about 3,000 + 3,000)
    python3 scripts/build_demo_catalog.py --full /tmp/full.jsonl   # every product, outside the repo

Only the Python standard library is used. The records follow ``tools.core.types.Product``:
``id``, ``title``, ``brand``, ``category``, ``price``, ``currency``, ``color``, ``description`` and
``attributes`` (str -> str | int | float | bool).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import html
import io
import json
import math
import os
import re
import sys
import unicodedata
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "assistant" / "data" / "demo_catalog.jsonl"
DEFAULT_EN_SIZE = 3000
DEFAULT_ZH_SIZE = 3000
ZH_SPLITS = ("train", "dev", "test")
MAX_ATTRIBUTES = 8

csv.field_size_limit(10_000_000)


def default_data_dir() -> Path:
    """``$SHOPQUERY_DATA`` if set, else ``../shared/data`` next to the project root."""
    env = os.environ.get("SHOPQUERY_DATA")
    if env:
        return Path(env)
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def stable_hash(text: str) -> int:
    """A 64-bit integer from SHA-256; used for every deterministic choice in this script."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def unit_interval(text: str) -> float:
    """A deterministic number in [0, 1) derived from ``text``."""
    return stable_hash(text) / 2**64


def compact_number(value: float) -> int | float:
    """27.0 -> 27, 1.525 -> 1.52 (two decimals at most)."""
    if float(value).is_integer():
        return int(value)
    return round(float(value), 2)


def clean_text(text: str | None) -> str:
    """Unescape HTML entities, drop tags and control characters, collapse whitespace."""
    if not text:
        return ""
    text = html.unescape(text)
    text = re.sub(r"<\s*(br|/li|/p|/div)\s*/?\s*>", "; ", text, flags=re.I)
    text = re.sub(r"<[^>]{1,200}>", " ", text)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^(;\s*)+|(;\s*)+$", "", text).strip()
    text = re.sub(r"(\s*;\s*){2,}", "; ", text)
    return text


# ---------------------------------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------------------------------

# Raw colour words (lowercase) -> basic colour. Everything not listed is ignored.
BASIC_COLOURS = {
    "black": "black", "matte black": "black", "photo black": "black", "pigment black": "black",
    "light black": "black", "jet black": "black", "carbon": "black", "onyx": "black",
    "white": "white", "ivory": "beige", "cream": "beige", "beige": "beige", "khaki": "beige", "sand": "beige",
    "silver": "silver", "stainless steel": "silver", "aluminium": "silver", "aluminum": "silver",
    "metallic": "silver", "chrome": "silver", "platinum": "silver", "titanium": "silver", "steel": "silver",
    "grey": "grey", "gray": "grey", "graphite": "grey", "charcoal": "grey", "anthracite": "grey",
    "light grey": "grey", "dark grey": "grey", "space grey": "grey", "gunmetal": "grey",
    "blue": "blue", "navy": "blue", "turquoise": "blue", "aqua": "blue", "light blue": "blue",
    "dark blue": "blue", "royal blue": "blue", "teal": "blue", "azure": "blue",
    "red": "red", "bordeaux": "red", "burgundy": "red", "maroon": "red", "crimson": "red", "coral": "red",
    "green": "green", "lime": "green", "olive": "green", "mint": "green", "dark green": "green",
    "yellow": "yellow", "lemon": "yellow",
    "pink": "pink", "rose": "pink", "rose gold": "pink", "fuchsia": "pink",
    "purple": "purple", "violet": "purple", "lilac": "purple", "lavender": "purple",
    "brown": "brown", "chocolate": "brown", "walnut": "brown", "wood": "brown", "bronze": "brown",
    "copper": "brown", "cognac": "brown", "tan": "brown",
    "orange": "orange",
    "gold": "gold", "champagne": "gold",
    "cyan": "cyan", "light cyan": "cyan", "photo cyan": "cyan",
    "magenta": "magenta", "light magenta": "magenta", "vivid magenta": "magenta", "photo magenta": "magenta",
    "multicolour": "multicolour", "multicolor": "multicolour", "assorted colours": "multicolour",
    "transparent": "transparent", "translucent": "transparent", "clear": "transparent",
}

# Colour words accepted in an English title (whole words only) when no colour attribute exists.
TITLE_COLOURS = {
    "black": "black", "white": "white", "silver": "silver", "grey": "grey", "gray": "grey",
    "blue": "blue", "red": "red", "green": "green", "yellow": "yellow", "pink": "pink",
    "purple": "purple", "brown": "brown", "orange": "orange", "gold": "gold", "beige": "beige",
    "cyan": "cyan", "magenta": "magenta",
}

# Chinese colour words (matched only in the "X色" form) -> basic colour.
ZH_COLOURS = {
    "黑色": "black", "白色": "white", "米白色": "beige", "米色": "beige", "卡其色": "beige",
    "杏色": "beige", "银色": "silver", "灰色": "grey", "深灰色": "grey", "浅灰色": "grey",
    "蓝色": "blue", "深蓝色": "blue", "浅蓝色": "blue", "天蓝色": "blue", "宝蓝色": "blue",
    "藏青色": "blue", "藏蓝色": "blue", "红色": "red", "大红色": "red", "酒红色": "red",
    "玫红色": "pink", "绿色": "green", "墨绿色": "green", "军绿色": "green", "黄色": "yellow",
    "粉色": "pink", "粉红色": "pink", "紫色": "purple", "棕色": "brown", "咖啡色": "brown",
    "驼色": "brown", "橙色": "orange", "橘色": "orange", "金色": "gold", "香槟色": "gold",
    "透明色": "transparent", "彩色": "multicolour",
}


def normalise_colour(raw: str) -> str | None:
    """First basic colour named in a raw Icecat value such as ``"Black,Silver"`` or ``"Light cyan"``."""
    for part in re.split(r"[,/;&+]| and ", raw):
        key = re.sub(r"\s+", " ", part).strip().lower()
        if key in BASIC_COLOURS:
            return BASIC_COLOURS[key]
        for word in key.split():
            if word in BASIC_COLOURS:
                return BASIC_COLOURS[word]
    return None


def colour_from_title(title: str) -> tuple[str, str] | None:
    """(raw word, basic colour) when an English title names exactly one basic colour."""
    found: dict[str, str] = {}
    for word in re.findall(r"(?<![\w-])([A-Za-z]+)(?![\w-])", title):
        basic = TITLE_COLOURS.get(word.lower())
        if basic:
            found.setdefault(basic, word)
    if len(found) == 1:
        basic, word = next(iter(found.items()))
        return word, basic
    return None


def zh_colour(title: str) -> tuple[str, str] | None:
    """(colour word, basic colour) when a Chinese title names exactly one basic colour as "X色"."""
    found: dict[str, str] = {}
    masked = title
    for word in sorted(ZH_COLOURS, key=lambda w: (-len(w), w)):
        if word in masked:
            found.setdefault(ZH_COLOURS[word], word)
            masked = masked.replace(word, "\0" * len(word))
    if len(found) == 1:
        basic, word = next(iter(found.items()))
        return word, basic
    return None


# ---------------------------------------------------------------------------------------------------
# English (Icecat)
# ---------------------------------------------------------------------------------------------------

# Phrases that the title heuristic can produce but that do not name a product category.
EN_PHRASE_JUNK = {
    "component", "not categorized", "usb type", "holder", "writing notebook", "portable",
    "blank", "multifunctional",
}

# Title phrases written in two ways: variant -> canonical (both lowercase).
EN_PHRASE_ALIASES = {"power adapter/inverter indoor": "power adapter/inverter"}

# Title phrases that name a category after the product name but are usually a modifier elsewhere in a
# title ("Server Drive", "Notebook Battery"): not used when matching anywhere in the title.
EN_ANYWHERE_EXCLUDE = {"server", "notebook"}

# Upstream product_type values that do not name a category.
EN_PRODUCT_TYPE_JUNK = {"1", "spares and accessories"}

# Keyword rules for products whose title names no Icecat category: (regex over the lowercased title,
# category). Every rule is tried; the match that ends furthest right wins (the head noun of an English
# compound comes last), and on a tie the earlier, more specific rule wins.
EN_KEYWORD_RULES: list[tuple[str, str]] = [
    (r"\btoner\b", "Toner cartridge"),
    (r"\b(printhead|print head)s?\b", "Print head"),
    (r"\b(drum|photoconductor|imaging) (unit|kit|cartridge)\b|\bdrum\b", "Printer drum"),
    (r"\bfuser\b", "Fuser"),
    (r"\bstaples?\b", "Staples"),
    (r"\bmaintenance kit\b", "Printer kit"),
    (r"\b(ink|singlepack|multipack|twinpack|print cartridge|inkjet cartridge|solid ink)\b", "Ink cartridge"),
    (r"\bribbon\b", "Printer ribbon"),
    (r"\blamp\b", "Projector lamp"),
    (r"\b(fib(er|re)|multimode|singlemode|om[1-4])\b.*\b(cable|cord)\b", "Fibre optic cable"),
    (r"\b(patch (cable|cord)|network cable|ethernet cable|cat ?\.?5e?|cat ?6a?|cat ?7|rj-?45|utp|s?ftp|crossover)\b",
     "Networking cable"),
    (r"\bhdmi\b.*\b(cable|cord)\b", "HDMI cable"),
    (r"\bdisplayport\b.*\b(cable|cord)\b", "DisplayPort cable"),
    (r"\bdvi(-[di])?\b.*\b(cable|cord)\b", "DVI cable"),
    (r"\bvga\b.*\b(cable|cord)\b", "VGA cable"),
    (r"\busb\b.*\b(cable|cord)\b", "USB cable"),
    (r"\bsata\b.*\b(cable|cord)\b", "SATA cable"),
    (r"\b(serial|db-?9|rs-?232)\b.*\b(cable|cord)\b", "Serial cable"),
    (r"\b(audio|stereo|3\.5 ?mm|rca|toslink|speaker)\b.*\b(cable|cord)\b", "Audio cable"),
    (r"\b(coax|coaxial)\b", "Coaxial cable"),
    (r"\b(power|ac) (cord|cable)s?\b", "Power cable"),
    (r"\bkvm\b.*\bswitch\b", "KVM switch"),
    (r"\bkvm\b", "KVM cable"),
    (r"\bups battery\b|\brbc\d+\b", "UPS battery"),
    (r"\b(ups|uninterruptible)\b", "Uninterruptible power supply (UPS)"),
    (r"\b(pdu|power distribution)\b", "Power distribution unit (PDU)"),
    (r"\b(surge|surgearrest|protection box)\b", "Surge protector"),
    (r"\b(tv|television)\b", "TV"),
    (r"\bmonitor\b|\d cm \([\d.]+\"\) \d+ x \d+ pixels", "Computer monitor"),
    (r"\b(tv|monitor|flat panel|flat screen|lcd|display|screen|projector)\b.*\b(mount|bracket|arm|stand)s?\b",
     "Flat panel mount accessory"),
    (r"\b(mount|bracket)s?\b", "Mounting kit"),
    (r"\blabels?\b", "Self-adhesive label"),
    (r"\b(labell?ing )?tape\b", "Label-making tape"),
    (r"\bdvd[+±-]r(w)?( dl)?\b", "Blank DVD"),
    (r"\bcd-r(w)?\b", "Blank CD"),
    (r"\b(bd|blu-ray)-r(e)?\b", "Blank Blu-ray"),
    (r"^(?!.*\blabels?\b).*\bpaper\b", "Printing paper"),
    (r"^(?!.*\bups\b).*\b(rack|netshelter)\b", "Rack accessory"),
    (r"\b(headphones?|earphones?|headsets?|earbuds?)\b", "Headphones/headset"),
    (r"\b(speakers?|soundbar)\b", "Loudspeaker"),
    (r"\b(keyboard|kbd)\b", "Keyboard"),
    (r"\b(mouse|mice|trackball)\b", "Mouse"),
    (r"\b(battery|batteries)\b", "Battery"),
    (r"\bcharger\b", "Battery charger"),
    (r"\b(ac|power|mains|notebook|laptop|usb-c|car) (adapter|adaptor)\b", "Power adapter/inverter"),
    (r"\b(adapter|adaptor|converter)\b", "Cable interface/gender adapter"),
    (r"\b(adapter|controller|interface|network|expansion) card\b", "Interface cards/adapter"),
    (r"\bswitch\b", "Network switch"),
    (r"\brouter\b", "Wireless router"),
    (r"\b(memory|ram|dimm|ddr\d?)\b", "Memory module"),
    (r"\b(hard (disk|drive)|hdd|ssd)\b|\b(server|hot[ -]?swap|sas|scsi) (hard )?(drive|disk)\b", "Internal hard drive"),
    (r"\b(drive|disk|hdd|ssd) (enclosure|caddy)\b", "Storage drive enclosure"),
    (r"\b(server|rack) (cabinet|enclosure)s?\b", "Rack cabinet"),
    (r"\bprivacy (filter|screen)s?\b", "Display privacy filters"),
    # a bare "server"/"notebook" names the product only at the end or before specifications
    (r"\bserver\b(?=\s*($|\(|\d|intel|amd))", "Server"),
    (r"\b(notebook|laptop)s?( pc)?\b(?=\s*($|\(|\d))", "Notebook"),
    (r"\b(laptop|notebook) (case|bag|sleeve)\b|\b(backpack|messenger bag|briefcase)\b", "Notebook case"),
    (r"\b(dual|single) sim\b", "Smartphone"),
    (r"^(?!.*\bsim\b).*\b(android|ipados)\b", "Tablet"),
    (r"\b(inkjet|officejet|deskjet|photosmart)\b.*\bdpi\b", "Inkjet printer"),
    (r"\b(laser|laserjet|led)\b.*\bdpi\b", "Laser printer"),
    (r"\bprojector\b", "Data projector"),
    (r"\b(mp3|mp4|flash audio|audio video|audio) player\b", "MP3/MP4 player"),
    (r"\b(notebook|laptop) pc\b", "Notebook"),
    (r"\btablet pc\b", "Tablet"),
    (r"\b(desktop pc|thin client)\b|\bpc\b(?!\(| card)", "PC"),
    (r"\bdocking station\b|\bport replicator\b", "Notebook dock/port replicator"),
    (r"\b(home theatre|home cinema|hi-fi system|micro system)\b", "Home audio set"),
    (r"\b(sfp\+?|gbic|transceiver)\b", "Network transceiver module"),
    (r"\bpower strip\b", "Power extension"),
    (r"\bprinter\b", "Printer"),
    (r"\bscanner\b", "Scanner"),
    (r"\b(camera|camcorder)\b", "Camera"),
    (r"\b(shaver|trimmer|groomer)\b", "Shaver"),
    (r"\b(warranty|support contract|care pack|on-?site service|service pack)\b", "Warranty/support extension"),
    (r"\bfans?\b", "Computer cooling component"),
    (r"\b(cable|cord)s?\b", "Cable"),
]
EN_KEYWORD_RULES_RX = [(re.compile(p), c) for p, c in EN_KEYWORD_RULES]

# Attributes kept per English product, in priority order: (output key, source keys, kind).
# kind "t" = short text, "n" = number, "ghz" = number below 10 (a frequency in GHz).
EN_ATTRIBUTE_SPEC: list[tuple[str, tuple[str, ...], str]] = [
    ("screen_size_in", ("attr_n_display_diagonal",), "n"),
    ("fits_screen_in", ("attr_n_maximum_screen_size_compatibility",), "n"),
    ("storage_gb", ("attr_n_total_storage_capacity", "attr_n_ssd_capacity", "attr_n_hdd_capacity"), "n"),
    ("processor", ("attr_t_processor_family",), "t"),
    ("processor_ghz", ("attr_n_processor_frequency",), "ghz"),
    ("os", ("attr_t_operating_system_installed",), "t"),
    ("connectivity", ("attr_t_connectivity_technology", "attr_t_device_interface"), "t"),
    ("cable_length_m", ("attr_n_cable_length",), "n"),
    ("material", ("attr_t_material", "attr_t_housing_material"), "t"),
    ("type", ("attr_t_type",), "t"),
    ("compatibility", ("attr_t_compatibility", "attr_t_brand_compatibility"), "t"),
    ("page_yield", ("attr_n_black_toner_page_yield", "attr_n_colour_toner_page_yield", "attr_n_page_yield"), "n"),
    ("print_technology", ("attr_t_print_technology",), "t"),
    ("battery_mah", ("attr_n_battery_capacity",), "n"),
    ("power_w", ("attr_n_output_power",), "n"),
    ("weight_g", ("attr_n_weight",), "n"),
]
TEXT_ATTR_MAX = 80


def read_icecat(data_dir: Path) -> list[dict]:
    """Rows of products.tsv joined with the full JSON records (same ids, same order as the TSV)."""
    base = data_dir / "catalog_en_icecat"
    with open(base / "products.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    full: dict[str, dict] = {}
    for i in range(1, 5):
        with zipfile.ZipFile(base / "full_json_zip" / f"{i}.json.zip") as zf:
            for name in sorted(zf.namelist()):
                with zf.open(name) as fh:
                    for rec in json.load(io.TextIOWrapper(fh, encoding="utf-8")):
                        full[str(rec["id"])] = rec
    missing = [r["id"] for r in rows if r["id"] not in full]
    if missing:
        raise SystemExit(f"{len(missing)} TSV ids have no JSON record, e.g. {missing[:3]}")
    return [{"row": r, "json": full[r["id"]]} for r in rows]


def _title_remainder(title: str, name: str) -> str | None:
    """The text after the product name in an Icecat title (``Brand [family] name category features``)."""
    if not name:
        return None
    i = title.find(" " + name)
    if i < 0:
        return None
    return title[i + 1 + len(name):].strip()


def _is_lower_word(word: str) -> bool:
    return word[:1].islower()


def _is_acronym(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z0-9][A-Z0-9/+.\-]*", word)) and any(c.isalpha() for c in word)


def _category_run(rest: str) -> str:
    """Leading run of category words in a title remainder.

    Icecat writes the category in lowercase right after the product name ("toner cartridge Original
    Black"), sometimes led by an acronym ("USB cable", "KVM cable") or ending with one in brackets
    ("uninterruptible power supply (UPS)"). The run stops at the first capitalised or numeric feature.
    """
    words = rest.split()
    out: list[str] = []
    for i, word in enumerate(words):
        if _is_lower_word(word) or out and re.fullmatch(r"\([A-Z]{2,6}\)", word) or not out and _is_acronym(word) and i + 1 < len(words) and _is_lower_word(words[i + 1]):
            out.append(word)
        else:
            break
    while out and not (_is_lower_word(out[-1]) or out[-1].startswith("(")):
        out.pop()
    phrase = " ".join(out)
    # "blank DVD", "portable DVD/Blu-Ray player": the category continues with one capitalised token
    if phrase in ("blank", "portable") and len(words) > len(out):
        nxt = words[len(out)]
        if phrase == "blank" and _is_acronym(nxt):
            return f"blank {re.sub(r'[^A-Za-z]+$', '', nxt.split('-')[0].split('+')[0])}"
        if phrase == "portable":
            tail = _category_run(" ".join(words[len(out) + 1:]))
            if tail:
                return f"portable {nxt} {tail}"
    return phrase


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


class IcecatCategoriser:
    """Assign one category per English product. Built from the FULL set so demo and full agree.

    Order: (1) the category phrase Icecat puts after the product name in the title; (2) the upstream
    product_type; (3) a category phrase from (1)'s vocabulary or a keyword rule matched in the title:
    the match that ends furthest right wins (the head noun of an English compound comes last), looking
    first at the part before "for", "with", " - " or a comma, then at the whole title; (4) printer
    supplies titled without a category ("HP 80 Original Cyan") told apart by their attributes (toner
    page yield or laser technology: toner; ink type, ink volume or inkjet: ink); else no category.
    """

    def __init__(self, products: list[dict]):
        surface: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.title_phrase: dict[str, str] = {}
        vocab = collections.Counter()
        for p in products:
            rec = p["json"]
            rest = _title_remainder(clean_text(rec["title"]), rec.get("name") or "")
            phrase = _category_run(rest) if rest else ""
            if phrase and phrase.casefold() not in EN_PHRASE_JUNK:
                key = EN_PHRASE_ALIASES.get(phrase.casefold(), phrase.casefold())
                phrase = phrase if key == phrase.casefold() else key
                self.title_phrase[rec["id"]] = key
                vocab[key] += 1
                surface[key][phrase] += 1
        for p in products:
            pt = (p["row"]["product_type"] or "").strip()
            if pt and pt.casefold() not in EN_PRODUCT_TYPE_JUNK:
                surface[pt.casefold()][pt] += 1
        self.surface = {k: _sentence_case(c.most_common(1)[0][0]) for k, c in surface.items()}
        matchable = sorted((k for k, n in vocab.items() if n >= 2 and k not in EN_ANYWHERE_EXCLUDE),
                           key=lambda s: (-len(s), s))
        self.vocab_rx = re.compile(
            r"(?<![\w\-/])(" + "|".join(re.escape(v) for v in matchable) + r")(?:e?s)?(?![\w\-/(])", re.I
        )

    def display(self, key: str) -> str:
        return self.surface.get(key, _sentence_case(key))

    def __call__(self, rec: dict, product_type: str) -> tuple[str | None, str | None]:
        """(category, how it was found)."""
        key = self.title_phrase.get(rec["id"])
        if key:
            return self.display(key), "title"
        pt = product_type.strip()
        if pt and pt.casefold() not in EN_PRODUCT_TYPE_JUNK:
            return self.display(pt.casefold()), "product_type"
        title = clean_text(rec["title"])
        head = re.split(r"\s(?:for|f|with|w/|incl\.?|compatible with|-|–)\s|,\s", title, maxsplit=1, flags=re.I)[0]
        for text in (head, title):
            # (end of match, source preference, rule preference) -> (category, source)
            best: tuple[tuple, tuple[str, str]] | None = None
            for m in self.vocab_rx.finditer(text):
                key = (m.end(), 1, len(m.group(1)))
                if best is None or key > best[0]:
                    best = (key, (self.display(m.group(1).casefold()), "title_match"))
            low = text.lower()
            for rank, (rx, category) in enumerate(EN_KEYWORD_RULES_RX):
                for m in rx.finditer(low):
                    key = (m.end(), 0, -rank)
                    if best is None or key > best[0]:
                        best = (key, (category, "keyword"))
            if best:
                return best[1]
        category = self._supply_from_attributes(rec, title)
        if category:
            return category, "attributes"
        return None, None

    @staticmethod
    def _supply_from_attributes(rec: dict, title: str) -> str | None:
        """Icecat often titles printer supplies "HP 80 Original Cyan": tell ink from toner by attributes."""
        if rec.get("attr_t_type") not in ("Original", "Compatible") and not re.search(
            r"\b(Original|Compatible)\b", title
        ):
            return None
        technology = str(rec.get("attr_t_print_technology") or "")
        if "attr_n_black_toner_page_yield" in rec or "attr_n_colour_toner_page_yield" in rec or "Laser" in technology:
            return "Toner cartridge"
        if any(k in rec for k in ("attr_t_ink_type", "attr_n_colour_ink_volume", "attr_n_black_ink_volume")) or (
            "Inkjet" in technology
        ):
            return "Ink cartridge"
        return None


def _en_attr_value(value, kind: str):
    if value is None or isinstance(value, bool | list | dict):
        return None
    if kind == "t":
        text = clean_text(str(value).replace("\\n", ", "))
        if not text or text in ("N", "-"):
            return None
        if len(text) > TEXT_ATTR_MAX:
            text = text[: TEXT_ATTR_MAX - 1].rsplit(" ", 1)[0].rstrip(",;/ ") + "…"
        return text
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    if kind == "ghz" and number >= 10:
        return None
    return compact_number(number)


def build_english(data_dir: Path) -> list[dict]:
    products = read_icecat(data_dir)
    categorise = IcecatCategoriser(products)
    out = []
    for p in products:
        row, rec = p["row"], p["json"]
        title = clean_text(row["title"])
        category, category_source = categorise(rec, row["product_type"] or "")
        attrs: dict[str, str | int | float | bool] = {}

        colour = None
        printing = rec.get("attr_t_printing_colours")
        is_supply = rec.get("attr_t_type") in ("Original", "Compatible") or bool(
            category and re.search(r"cartridge|toner|\bink\b|ribbon|print head|drum|imaging unit", category, re.I)
        )
        if is_supply and isinstance(printing, str) and printing.strip():
            # a cartridge's colour is the colour it prints, not the colour of its housing
            shades = {normalise_colour(part) for part in printing.split(",")} - {None}
            colour = shades.pop() if len(shades) == 1 else ("multicolour" if shades else None)
            if colour:
                attrs["colour"] = clean_text(printing)[:TEXT_ATTR_MAX]
        if colour is None:
            for key in ("attr_t_product_colour", "attr_t_cable_colour"):
                raw = rec.get(key)
                if isinstance(raw, str) and raw.strip():
                    attrs["colour"] = clean_text(raw)[:TEXT_ATTR_MAX]
                    colour = normalise_colour(raw)
                    break
        if colour is None and "colour" not in attrs:
            hit = colour_from_title(title)
            if hit:
                attrs["colour"], colour = hit

        pt = (row["product_type"] or "").strip()
        if pt and pt.casefold() not in EN_PRODUCT_TYPE_JUNK and (category or "").casefold() != pt.casefold():
            attrs["product_type"] = pt
        for out_key, src_keys, kind in EN_ATTRIBUTE_SPEC:
            if len(attrs) >= MAX_ATTRIBUTES - 1:
                break
            for src in src_keys:
                value = _en_attr_value(rec.get(src), kind)
                if value is not None:
                    attrs[out_key] = value
                    break
        if category_source:
            attrs["category_source"] = category_source

        cents = row.get("price_cents") or ""
        price = None
        if cents.strip().isdigit() and int(cents) > 0:
            price = round(int(cents) / 100, 2)
        out.append({
            "id": row["id"],
            "title": title,
            "brand": clean_text(row["supplier"]) or None,
            "category": category,
            "price": price,
            "currency": "USD" if price is not None else None,
            "color": colour,
            "description": clean_text(row["short_description"]) or None,
            "attributes": attrs,
        })
    return out


# ---------------------------------------------------------------------------------------------------
# Chinese (Taobao titles)
# ---------------------------------------------------------------------------------------------------

# HCCX spans that are too generic to be a product's category (gift, set, accessory, "clothes"...).
ZH_GENERIC = set(
    "套装 礼物 礼品 礼盒 礼盒装 配件 组合 用品 工具 装饰 装饰品 特产 周边 配饰 女装 男装 童装 服装 衣服 "
    "冬装 秋装 夏装 春装 新款 两件套 三件套 四件套 产品 神器 材料 器材 装备 视频 摄影 照片 图片 充值 直充 "
    "正品 挂件 摆件 饰品 服务 收藏 包装".split()
)
# HCCX spans that name a material rather than the product.
ZH_MATERIAL = set(
    "不锈钢 金属 玻璃 陶瓷 水晶 铝合金 合金 实木 硅胶 塑料 纯棉 真皮 银 纯银 黄金 铜 钢 羊毛 牛皮 皮革 led "
    "钻石 木 老榆木 和田玉 黄花梨 檀木 红木".split()
)
# HCCX spans that usually say what a product is FOR (手机 in 手机壳, 电脑 in 电脑桌) when another span follows.
ZH_CONTEXT = set("手机 电脑 笔记本 汽车 宠物 电视 电视机 dvd 儿童 宝宝 婴儿 苹果 iphone 猫 狗 猫咪 游戏".split())

# Synthetic price bands (CNY) chosen by the first keyword found in the category. Order matters.
ZH_PRICE_BANDS: list[tuple[tuple[str, ...], float, float]] = [
    (("壳", "膜", "贴", "数据线", "充电线", "充电器", "支架", "挂钩", "钥匙扣", "贴纸"), 5, 99),
    (("沙发", "床垫", "衣柜", "书柜", "茶几", "家具", "桌", "柜", "椅", "床"), 150, 5000),
    (("笔记本", "电脑", "台式机", "一体机", "显示器", "打印机", "相机", "摄像机", "空调", "洗衣机", "冰箱",
      "电视", "投影", "钢琴", "电动车", "摩托车", "自行车"), 500, 8000),
    (("手机", "平板"), 300, 5000),
    (("耳机", "音箱", "键盘", "鼠标", "手表", "路由器", "手柄", "硬盘", "内存", "显卡", "摄像头", "加湿器"), 20, 800),
    (("鞋", "靴"), 30, 600),
    (("戒指", "项链", "吊坠", "手链", "手串", "手镯", "耳环", "玉"), 20, 2000),
    (("衣", "裙", "裤", "衫", "服", "外套", "袄", "背心", "马甲", "帽", "围巾", "手套", "袜", "文胸"), 20, 500),
    (("书", "光盘", "dvd", "教材"), 8, 120),
    (("茶", "零食", "食品", "饮料", "蛋糕", "水果", "奶粉", "牛奶", "酸奶", "咖啡", "酒"), 10, 400),
]
ZH_DEFAULT_BAND = (10.0, 500.0)
ZH_MIN_TITLE_CHARS = 4


def read_taobao(data_dir: Path) -> list[tuple[str, int, list[tuple[str, str]]]]:
    """(split, index within split, [(char, tag), ...]) for every title, in file order."""
    base = data_dir / "catalog_zh_taobao_titles" / "data" / "ecommerce"
    out = []
    for split in ZH_SPLITS:
        with open(base / f"{split}.txt", encoding="utf-8") as fh:
            tokens: list[tuple[str, str]] = []
            index = 0
            for line in list(fh) + [""]:
                line = line.rstrip("\n")
                if not line.strip():
                    if tokens:
                        out.append((split, index, tokens))
                        index += 1
                        tokens = []
                    continue
                char, _, tag = line.rpartition(" ")
                tokens.append((char, tag))
    return out


def bio_spans(tokens: list[tuple[str, str]]) -> list[tuple[str, str, int, int]]:
    """(type, text, start, end) for each tagged span; a stray I- tag starts a new span."""
    spans: list[list] = []
    current: list | None = None
    for i, (char, tag) in enumerate(tokens):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        if kind and (tag.startswith("B-") or current is None or current[0] != kind):
            if current:
                spans.append(current)
            current = [kind, char, i, i + 1]
        elif kind:
            current[1] += char
            current[3] = i + 1
        else:
            if current:
                spans.append(current)
            current = None
    if current:
        spans.append(current)
    return [tuple(s) for s in spans]


def zh_title(tokens: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """Join the characters into a title: (title, None), or (None, reason) when it is dropped.

    The source writes one character per line as "char TAG", so it cannot hold a space: spaces were
    written as ASCII commas. They are turned back into spaces. HTML entities ("&hellip") are decoded.
    Titles with mojibake (control, private-use or U+FFFD characters) are dropped.
    """
    text = "".join(char for char, _ in tokens)
    if any(unicodedata.category(c) in ("Cc", "Co", "Cs") or c == "\ufffd" for c in text):
        return None, "dropped_damaged"

    def entity(m: re.Match) -> str:
        decoded = html.unescape(f"&{m.group(1)};")
        return decoded if not decoded.startswith("&") else m.group(0)

    text = re.sub(r"&([a-zA-Z]{2,8});?", entity, text)
    text = text.replace("\u3000", " ").replace("\xa0", " ").replace(",", " ")
    text = re.sub(r"\s+", " ", text).strip()
    if len(text.replace(" ", "")) < ZH_MIN_TITLE_CHARS:
        return None, "dropped_too_short"
    return text, None


def zh_clean_span(text: str | None) -> str | None:
    """Clean a tagged span the way titles are cleaned (commas stood for spaces, HTML entities)."""
    if not text:
        return None
    text = re.sub(r"&([a-zA-Z]{2,8});?", lambda m: html.unescape(f"&{m.group(1)};"), text)
    text = re.sub(r"\s+", " ", text.replace(",", " ")).strip()
    return text or None


def zh_category(spans: list[tuple[str, str, int, int]], single_spans: collections.Counter) -> str | None:
    """The HCCX span that best names the product.

    Generic words (套装, 礼物, 配件…) and materials (不锈钢, 水晶…) are skipped, as are context words
    (手机, 电脑…) when another candidate follows. The first remaining span is taken, because Taobao
    sellers lead with the product and trail with generic words; when it is directly followed by more
    HCCX spans (a compound such as 笔记本+内存条), the compound's head, i.e. its last span, is used,
    or the whole compound when the corpus also tags it as a single span (笔记本电脑).
    """
    hccx = [s for s in spans if s[0] == "HCCX"]
    if not hccx:
        return None
    skip = ZH_GENERIC | ZH_MATERIAL
    candidates = [s for s in hccx if s[1] not in skip] or hccx
    i = 0
    while i < len(candidates) - 1 and candidates[i][1] in ZH_CONTEXT:
        i += 1
    chosen = candidates[i]
    j = hccx.index(chosen)
    while j + 1 < len(hccx) and hccx[j + 1][2] == hccx[j][3]:
        j += 1
    if j > hccx.index(chosen):
        compound = "".join(s[1] for s in hccx[hccx.index(chosen): j + 1])
        if single_spans.get(compound):
            return compound
        if hccx[j][1] not in skip:
            return hccx[j][1]
    return chosen[1]


def zh_price(product_id: str, category: str | None) -> float:
    """Synthetic price: log-uniform in the category's band, from a hash of the id, ending in .9."""
    lo, hi = ZH_DEFAULT_BAND
    if category:
        for keys, band_lo, band_hi in ZH_PRICE_BANDS:
            if any(k in category for k in keys):
                lo, hi = band_lo, band_hi
                break
    value = lo * (hi / lo) ** unit_interval("price:" + product_id)
    return max(1, int(value)) - 0.1


def build_chinese(data_dir: Path) -> tuple[list[dict], dict[str, int]]:
    titles = read_taobao(data_dir)
    single_spans = collections.Counter(s[1] for _, _, tokens in titles for s in bio_spans(tokens) if s[0] == "HCCX")
    seen: set[str] = set()
    stats = collections.Counter()
    out = []
    for split, index, tokens in titles:
        stats["titles"] += 1
        title, reason = zh_title(tokens)
        if title is None:
            stats[reason] += 1
            continue
        if title in seen:
            stats["dropped_duplicate"] += 1
            continue
        seen.add(title)
        spans = bio_spans(tokens)
        pid = f"tb-{split}-{index}"
        brand = next((s[1] for s in spans if s[0] == "HPPX"), None)
        model = next((s[1] for s in spans if s[0] == "XH"), None)
        category = zh_clean_span(zh_category(spans, single_spans))
        brand = zh_clean_span(brand)
        model = zh_clean_span(model)
        attrs: dict[str, str | int | float | bool] = {}
        if model:
            attrs["model"] = model
        hit = zh_colour(title)
        colour = None
        if hit:
            attrs["colour"], colour = hit
        attrs["price_synthetic"] = True
        out.append({
            "id": pid,
            "title": title,
            "brand": brand,
            "category": category,
            "price": zh_price(pid, category),
            "currency": "CNY",
            "color": colour,
            "description": None,
            "attributes": attrs,
        })
    return out, dict(stats)


# ---------------------------------------------------------------------------------------------------
# Sampling, validation, output
# ---------------------------------------------------------------------------------------------------

def stratified_sample(products: list[dict], size: int, salt: str) -> list[dict]:
    """Sample ``size`` products keeping the category mix (largest-remainder quotas per category).

    Within a category, products are taken in order of a SHA-256 hash of their id.
    """
    if size >= len(products):
        return list(products)
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for p in products:
        groups[p["category"] or ""].append(p)
    total = len(products)
    quotas = {k: size * len(v) / total for k, v in groups.items()}
    alloc = {k: int(q) for k, q in quotas.items()}
    rest = size - sum(alloc.values())
    by_remainder = sorted(groups, key=lambda k: (-(quotas[k] - alloc[k]), -len(groups[k]), k))
    for k in by_remainder[:rest]:
        alloc[k] += 1
    picked = []
    for k in sorted(groups):
        ordered = sorted(groups[k], key=lambda p: (stable_hash(salt + p["id"]), p["id"]))
        picked.extend(ordered[: alloc[k]])
    return picked


def hash_sample(products: list[dict], size: int, salt: str) -> list[dict]:
    ordered = sorted(products, key=lambda p: (stable_hash(salt + p["id"]), p["id"]))
    return ordered[:size]


def sort_key(p: dict) -> tuple:
    """English first (numeric id order), then Chinese (train, dev, test; index order)."""
    pid = p["id"]
    if pid.startswith("tb-"):
        _, split, index = pid.split("-")
        return (1, ZH_SPLITS.index(split), int(index), "")
    return (0, int(pid) if pid.isdigit() else 0, 0, pid)


def check_record(p: dict) -> None:
    """The constraints of tools.core.types.Product, checked without third-party packages."""
    allowed = {"id", "title", "brand", "category", "price", "currency", "color", "description", "attributes"}
    assert set(p) == allowed, p
    assert isinstance(p["id"], str) and 1 <= len(p["id"]) <= 200, p["id"]
    assert isinstance(p["title"], str) and 1 <= len(p["title"].strip()) <= 2000, p["id"]
    assert p["price"] is None or (isinstance(p["price"], float | int) and p["price"] >= 0), p["id"]
    for key in ("brand", "category", "currency", "color", "description"):
        assert p[key] is None or (isinstance(p[key], str) and p[key].strip()), (p["id"], key)
    for key, value in p["attributes"].items():
        assert isinstance(key, str) and isinstance(value, str | int | float | bool), (p["id"], key)


def write_jsonl(products: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for p in products:
            fh.write(json.dumps(p, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    tmp.replace(path)


def summarise(products: list[dict]) -> dict:
    def lang(p):
        return "zh" if p["id"].startswith("tb-") else "en"

    out = {}
    for code in ("en", "zh"):
        ps = [p for p in products if lang(p) == code]
        out[code] = {
            "products": len(ps),
            "categories": len({p["category"] for p in ps if p["category"]}),
            "with_category": sum(1 for p in ps if p["category"]),
            "brands": len({p["brand"] for p in ps if p["brand"]}),
            "with_brand": sum(1 for p in ps if p["brand"]),
            "with_colour": sum(1 for p in ps if p["color"]),
            "with_price": sum(1 for p in ps if p["price"] is not None),
        }
        if code == "en":
            out[code]["category_source"] = dict(
                sorted(collections.Counter(p["attributes"].get("category_source", "none") for p in ps).items())
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir(),
                    help="folder holding catalog_en_icecat/ and catalog_zh_taobao_titles/")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="demo catalog path (default: %(default)s)")
    ap.add_argument("--full", type=Path, metavar="OUT.jsonl",
                    help="write every product (all English, all de-duplicated Chinese) here instead of the demo")
    ap.add_argument("--en-size", type=int, default=DEFAULT_EN_SIZE)
    ap.add_argument("--zh-size", type=int, default=DEFAULT_ZH_SIZE)
    ap.add_argument("--allow-in-repo", action="store_true", help="allow --full to write inside the project")
    args = ap.parse_args(argv)

    english = build_english(args.data_dir)
    chinese, zh_stats = build_chinese(args.data_dir)

    if args.full:
        target = args.full.resolve()
        if REPO_ROOT in target.parents and not args.allow_in_repo:
            print(f"refusing to write the full catalog inside the project ({target}); "
                  "pass a path outside it or --allow-in-repo", file=sys.stderr)
            return 2
        products = english + chinese
    else:
        target = args.out
        products = stratified_sample(english, args.en_size, "en-demo:") + hash_sample(chinese, args.zh_size, "zh-demo:")

    products.sort(key=sort_key)
    for p in products:
        check_record(p)
    write_jsonl(products, target)
    summary = {"path": str(target), "bytes": target.stat().st_size, "zh_source": zh_stats, **summarise(products)}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
