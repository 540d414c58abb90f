#!/usr/bin/env python3
"""Build the product-kind lexicons in ``tools/resources/product_kinds_{en,zh}.tsv`` (``phrase<TAB>count``).

English: Icecat titles are written "<brand> <model name> <product type> <attributes>", and products.tsv keeps the
model name apart, so the lowercase words right after the model name are the product type the catalog gives
(``toner cartridge``, ``notebook case``, ``memory card``); the ``product_type`` column adds the 1,532 typed ones.
Chinese: the HCCX (product type) spans of the BIO-tagged Taobao titles.

Deterministic (sorted by count, then phrase). Only the standard library::

    python3 scripts/build_product_kinds.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import collections
import csv
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "tools" / "resources"
_TYPE_AFTER_NAME = re.compile(r"((?:[a-z][a-z0-9&/+'-]*\s?)+)")
MIN_COUNT = 2


def english_kinds(products_tsv: Path) -> collections.Counter:
    """Product-type phrases read from Icecat titles (the lowercase words after the model name) and product_type."""
    csv.field_size_limit(1 << 30)
    counts: collections.Counter = collections.Counter()
    with products_tsv.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            title, name = row["title"], row["name"]
            at = title.find(name) if name else -1
            if at >= 0:
                found = _TYPE_AFTER_NAME.match(title[at + len(name):].strip())
                if found:
                    counts[found.group(1).strip()] += 1
            if row.get("product_type", "").strip():
                counts[row["product_type"].strip().lower()] += 1
    return counts


def chinese_kinds(tagged_dir: Path) -> collections.Counter:
    """HCCX spans of the BIO-tagged Taobao titles (one character and its tag per line, blank line between titles)."""
    counts: collections.Counter = collections.Counter()
    for path in sorted(tagged_dir.glob("*.txt")):
        current = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ")
            tag = parts[1] if len(parts) == 2 else "O"
            if tag == "I-HCCX" and current:
                current += parts[0]
                continue
            if current:
                counts[current.lower()] += 1
            current = parts[0] if tag == "B-HCCX" else ""
        if current:
            counts[current.lower()] += 1
    return counts


def write(counts: collections.Counter, path: Path, source: str) -> int:
    """Write phrases seen at least MIN_COUNT times; returns how many."""
    rows = sorted(((p, n) for p, n in counts.items() if n >= MIN_COUNT and len(p) > 1), key=lambda r: (-r[1], r[0]))
    lines = [f"# phrase<TAB>count - {source}; built by scripts/build_product_kinds.py (SOURCE.md)"]
    lines += [f"{p}\t{n}" for p, n in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def main() -> int:
    """Build both lexicons."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    en = write(english_kinds(args.data_dir / "catalog_en_icecat" / "products.tsv"), OUT / "product_kinds_en.tsv",
               "Icecat via querqy/chorus (Apache-2.0, Icecat Open Content Licence)")
    zh = write(chinese_kinds(args.data_dir / "catalog_zh_taobao_titles" / "data" / "ecommerce"),
               OUT / "product_kinds_zh.tsv", "Taobao NER titles, HCCX spans (research use)")
    print(f"product_kinds_en.tsv: {en} phrases; product_kinds_zh.tsv: {zh} phrases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
