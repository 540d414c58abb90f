#!/usr/bin/env python3
"""Build the retrieval eval sets from hand-written queries and rules over the demo catalog.

Inputs:  ``eval/data/retrieval_spec.json`` (queries and rules) and ``assistant/data/demo_catalog.jsonl``.
Outputs: ``eval/data/retrieval_dev.jsonl`` (about 40 % of the queries of each language) and
``eval/data/retrieval_test.jsonl`` (the rest). Each line is
``{"query": "...", "lang": "en"|"zh", "relevant": {"<product id>": grade}}`` with grade 1..3.

The relevance labels are derived by rules from catalog fields. They are not human judgements.

Rule fields (all optional; each rule needs ``query`` and ``lang``):

``category_any``
    Product category equals one of these (case-insensitive).
``title_any``
    Product title contains one of these terms.
``exclude_title_any``
    Product title contains none of these terms (applies to the product type below).
``brand_any``
    Product brand equals one of these (case-insensitive). For ``lang: "zh"`` a brand named in the
    title also counts, because the Chinese catalog keeps only the first tagged brand of a title.
``color``
    Product ``color`` (the normalised basic colour) equals this.
``modifier_title_any``
    Product title contains one of these terms.
``modifier_not_title_any``
    Product title contains none of these terms (for example children's sizes in "男士外套").
``price_min`` / ``price_max``
    Product price is within the bound.

Term matching: a term containing CJK characters matches as a plain substring; any other term
matches case-insensitively at word boundaries, optionally followed by a plural "s"/"es"
("headphone" matches "Headphones", "aa" does not match "AAA").

Product type: a product is *of the queried type* when its category is in ``category_any`` or its
title matches ``title_any``, and its title matches nothing in ``exclude_title_any``. A rule with
neither ``category_any`` nor ``title_any`` is a brand query: its type is ``brand_any``.

Modifiers: ``brand_any`` (unless it is the type), ``color``, ``modifier_title_any``,
``modifier_not_title_any`` and the price bounds. Grades, for products of the queried type:

* 3 - every modifier holds (or the rule has no modifiers);
* 2 - at least one modifier holds but not all (only possible with two or more modifiers);
* 1 - no modifier holds: the right kind of product, but not the brand/colour/feature asked for.

Products not of the queried type are not relevant (absent). Queries with no product of grade 3
are dropped, as are queries with no relevant product at all.

Split: per language, queries are ordered by a SHA-256 hash of the query text; the first 40 % go to
dev and the rest to test. The split depends only on the query text, so adding a query does not
move the others.

Usage::

    python3 scripts/build_retrieval_queries.py             # writes the two files and prints counts
    python3 scripts/build_retrieval_queries.py --show 3    # also prints up to 3 matches per grade
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT / "eval" / "data" / "retrieval_spec.json"
DEFAULT_CATALOG = REPO_ROOT / "assistant" / "data" / "demo_catalog.jsonl"
DEFAULT_DEV = REPO_ROOT / "eval" / "data" / "retrieval_dev.jsonl"
DEFAULT_TEST = REPO_ROOT / "eval" / "data" / "retrieval_test.jsonl"
DEV_FRACTION = 0.4

RULE_FIELDS = {
    "query", "lang", "category_any", "title_any", "exclude_title_any", "brand_any", "color",
    "modifier_title_any", "modifier_not_title_any", "price_min", "price_max", "note",
}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def term_pattern(term: str) -> re.Pattern | str:
    """A compiled word-boundary pattern, or the lowercased term itself for CJK substring matching."""
    term = term.lower()
    if CJK.search(term):
        return term
    return re.compile(r"(?<![a-z0-9])" + re.escape(term) + r"(?:e?s)?(?![a-z0-9])")


def matches_any(text: str, patterns: list) -> bool:
    text = text.lower()
    for pat in patterns:
        if isinstance(pat, str):
            if pat in text:
                return True
        elif pat.search(text):
            return True
    return False


class Rule:
    """One query and the relevance rule that labels catalog products for it."""

    def __init__(self, spec: dict):
        unknown = set(spec) - RULE_FIELDS
        if unknown:
            raise ValueError(f"{spec.get('query')!r}: unknown fields {sorted(unknown)}")
        if spec.get("lang") not in ("en", "zh"):
            raise ValueError(f"{spec.get('query')!r}: lang must be 'en' or 'zh'")
        self.query: str = spec["query"].strip()
        self.lang: str = spec["lang"]
        self.categories = {c.casefold() for c in spec.get("category_any", [])}
        self.title_any = [term_pattern(t) for t in spec.get("title_any", [])]
        self.exclude = [term_pattern(t) for t in spec.get("exclude_title_any", [])]
        self.brands = {b.casefold() for b in spec.get("brand_any", [])}
        self.brand_terms = [term_pattern(b) for b in spec.get("brand_any", [])]
        self.color: str | None = spec.get("color")
        self.modifier_title = [term_pattern(t) for t in spec.get("modifier_title_any", [])]
        self.modifier_not_title = [term_pattern(t) for t in spec.get("modifier_not_title_any", [])]
        self.price_min = spec.get("price_min")
        self.price_max = spec.get("price_max")
        self.brand_is_type = not self.categories and not self.title_any
        if self.brand_is_type and not self.brands:
            raise ValueError(f"{self.query!r}: needs category_any, title_any or brand_any")

    def _brand_ok(self, p: dict) -> bool:
        if (p.get("brand") or "").casefold() in self.brands:
            return True
        return self.lang == "zh" and matches_any(p["title"], self.brand_terms)

    def _is_type(self, p: dict) -> bool:
        if self.brand_is_type:
            ok = self._brand_ok(p)
        else:
            ok = (p.get("category") or "").casefold() in self.categories or matches_any(p["title"], self.title_any)
        return ok and not matches_any(p["title"], self.exclude)

    def _modifiers(self, p: dict) -> list[bool]:
        checks = []
        if self.brands and not self.brand_is_type:
            checks.append(self._brand_ok(p))
        if self.color:
            checks.append(p.get("color") == self.color)
        if self.modifier_title:
            checks.append(matches_any(p["title"], self.modifier_title))
        if self.modifier_not_title:
            checks.append(not matches_any(p["title"], self.modifier_not_title))
        price = p.get("price")
        if self.price_min is not None:
            checks.append(price is not None and price >= self.price_min)
        if self.price_max is not None:
            checks.append(price is not None and price <= self.price_max)
        return checks

    def grade(self, p: dict) -> int:
        """0 (not relevant) to 3, as defined in the module docstring."""
        if not self._is_type(p):
            return 0
        checks = self._modifiers(p)
        if all(checks):
            return 3
        return 2 if any(checks) else 1


def product_lang(p: dict) -> str:
    return "zh" if p["id"].startswith("tb-") else "en"


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def build(spec_path: Path, catalog_path: Path, show: int = 0) -> tuple[list[dict], list[dict], list[str]]:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    with open(catalog_path, encoding="utf-8") as fh:
        products = [json.loads(line) for line in fh if line.strip()]
    by_lang = {"en": [p for p in products if product_lang(p) == "en"],
               "zh": [p for p in products if product_lang(p) == "zh"]}

    records: list[dict] = []
    dropped: list[str] = []
    seen: set[tuple[str, str]] = set()
    for item in spec["queries"]:
        rule = Rule(item)
        key = (rule.lang, rule.query.lower())
        if key in seen:
            raise ValueError(f"duplicate query {rule.query!r}")
        seen.add(key)
        relevant = {}
        for p in by_lang[rule.lang]:
            g = rule.grade(p)
            if g:
                relevant[p["id"]] = g
        if not relevant or 3 not in relevant.values():
            dropped.append(f"{rule.lang}: {rule.query}")
            continue
        ordered = dict(sorted(relevant.items(), key=lambda kv: (-kv[1], kv[0])))
        records.append({"query": rule.query, "lang": rule.lang, "relevant": ordered})
        if show:
            index = {p["id"]: p for p in by_lang[rule.lang]}
            counts = {g: sum(1 for v in relevant.values() if v == g) for g in (3, 2, 1)}
            print(f"[{rule.lang}] {rule.query}  {counts}")
            for g in (3, 2, 1):
                for pid in [k for k, v in ordered.items() if v == g][:show]:
                    p = index[pid]
                    print(f"    {g} {pid:>12}  {p['title'][:70]}  | {p.get('brand')} | {p.get('category')}")

    dev: list[dict] = []
    test: list[dict] = []
    for lang in ("en", "zh"):
        group = [r for r in records if r["lang"] == lang]
        ordered = sorted(group, key=lambda r: (stable_hash(r["query"]), r["query"]))
        n_dev = round(len(ordered) * DEV_FRACTION)
        dev_queries = {r["query"] for r in ordered[:n_dev]}
        dev.extend(r for r in group if r["query"] in dev_queries)
        test.extend(r for r in group if r["query"] not in dev_queries)
    return dev, test, dropped


def write_jsonl(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def summary(name: str, records: list[dict]) -> dict:
    out = {"split": name}
    for lang in ("en", "zh"):
        rs = [r for r in records if r["lang"] == lang]
        sizes = [len(r["relevant"]) for r in rs]
        grade3 = [sum(1 for g in r["relevant"].values() if g == 3) for r in rs]
        out[lang] = {
            "queries": len(rs),
            "mean_relevant": round(statistics.mean(sizes), 1) if sizes else 0,
            "median_relevant": statistics.median(sizes) if sizes else 0,
            "mean_grade3": round(statistics.mean(grade3), 1) if grade3 else 0,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    ap.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    ap.add_argument("--dev-out", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--test-out", type=Path, default=DEFAULT_TEST)
    ap.add_argument("--show", type=int, default=0, metavar="N", help="print up to N matches per grade per query")
    args = ap.parse_args(argv)

    dev, test, dropped = build(args.spec, args.catalog, show=args.show)
    write_jsonl(dev, args.dev_out)
    write_jsonl(test, args.test_out)
    report = {"dropped": dropped, "splits": [summary("dev", dev), summary("test", test), summary("all", dev + test)]}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
