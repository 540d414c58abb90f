"""Build the query-expansion resources in tools/resources/ deterministically from the shared data.

Writes

* ``expansion_querylog_zh.tsv`` - ``query<TAB>count``: 20,000 real Taobao queries of the Alibaba Multi-CPR log
  (``querylog_zh_multicpr/train.query.txt``), the ones whose words the demo catalog knows best. Left out: queries
  reserved for the Chinese spelling eval (``build_spelling_resources.is_held_out``), queries that are in any
  ``eval/data/*test*`` file, and the retrieval queries of both splits.
* ``expansion_querylog_en.tsv`` - English short product queries. There is no English query log in the shared data:
  these are the correct sides of ``eval/data/spelling_en_dev.jsonl`` (short queries made from demo catalog titles),
  deduplicated; the test split is never used.
* ``expansion_brand_products_zh.tsv`` - ``brand<TAB>product<TAB>count``: brand and product words tagged in the same
  title or query of the lexicon_zh_ecom tagged data (Ding et al., ACL 2019; HP/HC tags).

    .venv/bin/python scripts/build_expansion_resources.py [--data-dir ../shared/data] [--size 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_spelling_resources import is_held_out, read_query_log  # noqa: E402

from tools.core.types import Product  # noqa: E402
from tools.text import normalize, tokenize  # noqa: E402

OUT = ROOT / "tools" / "resources"
EVAL = ROOT / "eval" / "data"
DEMO = ROOT / "assistant" / "data" / "demo_catalog.jsonl"


def eval_texts() -> set[str]:
    """Normalised texts of every test split and of the retrieval queries (kept out of the log)."""
    found: set[str] = set()
    files = sorted(EVAL.glob("*test*.jsonl")) + sorted(EVAL.glob("retrieval_*.jsonl"))
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for key in ("query", "text", "expected"):
                if isinstance(row.get(key), str):
                    found.add(normalize(row[key]))
    return found


def catalog_vocabulary() -> Counter[str]:
    """Document frequency of every token of the demo catalog's Chinese products."""
    df: Counter[str] = Counter()
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        product = Product.model_validate_json(line)
        if product.currency == "CNY" or product.id.startswith("tb-"):
            df.update(set(tokenize(product.search_text())))
    return df


def relevance(query: str, vocab: Counter[str]) -> float:
    """Share of the query's tokens the catalog uses (a query about things the catalog sells scores high)."""
    tokens = [t for t in tokenize(query) if len(t) > 1]
    if not tokens:
        return 0.0
    return sum(1 for t in tokens if vocab.get(t, 0) >= 2) / len(tokens)


def stable_key(text: str) -> str:
    """A tie-breaker that does not depend on file order."""
    return hashlib.sha256(("expansion-log:" + text).encode("utf-8")).hexdigest()


def build_zh_log(data: Path, size: int) -> list[tuple[str, int]]:
    """The `size` most catalog-relevant log queries with their counts."""
    banned = eval_texts()
    counts = Counter(normalize(q) for q in read_query_log(data / "querylog_zh_multicpr" / "train.query.txt")
                     if not is_held_out(q))
    vocab = catalog_vocabulary()
    rows = [(q, n) for q, n in counts.items() if 2 <= len(q) <= 24 and q not in banned]
    scored = sorted(rows, key=lambda r: (-relevance(r[0], vocab), -r[1], stable_key(r[0])))
    return scored[:size]


def build_en_log() -> list[tuple[str, int]]:
    """English queries from the spelling dev split (their correct side)."""
    banned = eval_texts()
    counts: Counter[str] = Counter()
    for line in (EVAL / "spelling_en_dev.jsonl").read_text(encoding="utf-8").splitlines():
        text = normalize(json.loads(line)["expected"])
        if text and text not in banned:
            counts[text] += 1
    return sorted(counts.items(), key=lambda r: (-r[1], r[0]))


def tagged_items(path: Path) -> list[list[tuple[str, str]]]:
    """(char, tag) sequences of a BIOES file, one per item."""
    items, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                items.append(current)
            current = []
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) >= 2:
            current.append((parts[0], parts[-1]))
    if current:
        items.append(current)
    return items


def spans(item: list[tuple[str, str]], kind: str) -> list[str]:
    """Entity strings of one kind (HP brand, HC product) in a tagged item."""
    out, buf = [], ""
    for char, tag in item:
        prefix, _, label = tag.partition("-")
        if label != kind:
            buf = ""
            continue
        if prefix in ("B", "S"):
            buf = char
        else:
            buf += char
        if prefix in ("E", "S"):
            out.append(normalize(buf))
            buf = ""
    return out


def build_brand_products(data: Path) -> list[tuple[str, str, int]]:
    """Brand -> product word co-occurrence counts over the tagged lexicon_zh_ecom files."""
    pairs: Counter[tuple[str, str]] = Counter()
    for path in sorted((data / "lexicon_zh_ecom" / "data" / "ecommerce").glob("*.bieos")):
        for item in tagged_items(path):
            for brand in set(spans(item, "HP")):
                for product in set(spans(item, "HC")):
                    if len(brand) >= 2 and len(product) >= 2:
                        pairs[(brand, product)] += 1
    return sorted(((b, p, n) for (b, p), n in pairs.items()), key=lambda r: (r[0], -r[2], r[1]))


def write_tsv(path: Path, rows: list[tuple]) -> None:
    """One row per line, fields joined by tabs."""
    path.write_text("".join("\t".join(str(f) for f in row) + "\n" for row in rows), encoding="utf-8")


def main() -> int:
    """Build all three files and print their sizes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    outputs = {
        "expansion_querylog_zh.tsv": build_zh_log(args.data_dir, args.size),
        "expansion_querylog_en.tsv": build_en_log(),
        "expansion_brand_products_zh.tsv": build_brand_products(args.data_dir),
    }
    for name, rows in outputs.items():
        write_tsv(OUT / name, rows)
        print(f"{name}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
