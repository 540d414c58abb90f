#!/usr/bin/env python3
"""Build the spelling eval sets ``eval/data/spelling_{en,zh_query,zh_sighan}_{dev,test}.jsonl`` (and
``spelling_zh_query_train.jsonl``).

Each line is ``{"query": ..., "expected": ..., "kind": ...}`` (``kind`` names the error injected, or
``correct`` for a query left as it was). See the "Spelling eval data" section of ``eval/data/README.md``.

* English: short product queries made from the English half of the demo catalog (brand, category, colour,
  title words), with real misspellings from the Birkbeck/Holbrook/Aspell/Wikipedia and Norvig corpora put in
  place of a correctly spelt word, run-together words and split words; about a third are left correct.
  Misspelt words are split between dev and test by a hash of the correct word, products by a hash of their id.
* Chinese queries: real Taobao queries held out from the spelling resources (see
  ``scripts/build_spelling_resources.py``: :func:`is_held_out`), with one realistic error injected into most:
  a word replaced by another word of the same toneless pinyin (``手机`` -> ``手记``), a character replaced by a
  homophone or fuzzy-pinyin near-homophone, or a shape-similar character from the substitutions observed in the
  SIGHAN *test* sets (the resources use only the SIGHAN train sets); about 40 % are left correct.
  The rest of the held-out queries, made the same way, are the ``train`` split the scorer's weights are fitted
  on (``scripts/tune_spelling_zh.py``).
* Chinese sentences: the SIGHAN 2013 and 2014 test pairs (simplified), split 40/60 by a hash of the sentence.

Usage::

    .venv/bin/python scripts/build_spelling_eval.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_spelling_resources import CJK, is_held_out, read_query_log, toneless  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "eval" / "data"
CATALOG = ROOT / "assistant" / "data" / "demo_catalog.jsonl"
MISSP_FILES = ("birkbeck/DataSets/missp.dat", "birkbeck/DataSets/holbrook-missp.dat",
               "birkbeck/DataSets/aspell.dat", "birkbeck/DataSets/wikipedia.dat")
FILLERS = ("for office", "for home", "for laptop", "with cable", "for children", "for business", "large",
           "small", "portable", "wireless", "original", "replacement", "professional", "black", "white")


def bucket(key: str) -> float:
    """A stable number in [0, 1) from a string."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def is_dev(key: str, share: float = 0.4) -> bool:
    """True for the dev share of keys (the rest is test)."""
    return bucket("split:" + key) < share


def damerau(a: str, b: str) -> int:
    """Optimal string alignment distance."""
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def misspellings(data: Path, known: set[str]) -> dict[str, list[str]]:
    """correct word -> real misspellings (non-words, within edit distance 3, letters only)."""
    pairs: dict[str, set[str]] = defaultdict(set)
    for name in MISSP_FILES:
        current = None
        for line in (data / "misspellings_en" / name).read_text(encoding="latin-1").splitlines():
            line = line.strip()
            if line.startswith("$"):
                current = line[1:].lower()
            elif current and line:
                pairs[current].add(line.split()[0].lower())
    for name in ("spell-testset1.txt", "spell-testset2.txt"):
        text = (data / "misspellings_en" / "norvig" / name).read_text(encoding="latin-1")
        for right, wrongs in re.findall(r"'([a-z]+)'\s*:\s*'([a-z ]+)'", text):
            pairs[right].update(wrongs.split())
    out = {}
    for right, wrongs in pairs.items():
        good = sorted(w for w in wrongs if w.isalpha() and w not in known and w != right
                      and 1 <= damerau(w, right) <= 3 and len(w) >= 3)
        if right.isalpha() and good:
            out[right] = good
    return out


def english_queries(rng: random.Random) -> list[tuple[str, str]]:
    """(product id, clean query) pairs built from the English catalog."""
    out = []
    for line in CATALOG.read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if p["id"].startswith("tb-"):
            continue
        title = re.sub(r"[^a-z0-9 ]+", " ", p["title"].lower()).split()
        brand, category = (p.get("brand") or "").lower(), (p.get("category") or "").lower()
        category = re.sub(r"[^a-z0-9 ]+", " ", category).strip()
        options = [" ".join(title[:rng.randint(3, 5)])]
        if category:
            options += [f"{brand} {category}", f"{p.get('color') or rng.choice(FILLERS)} {category}",
                        f"{category} {rng.choice(FILLERS)}"]
        query = " ".join(rng.choice(options).split()[:6])
        if len(query.split()) >= 2 and len(query) <= 60:
            out.append((p["id"], query))
    return out


def inject_en(query: str, pairs: dict[str, list[str]], dev: bool, known: set[str], rng: random.Random):
    """One error in a query: a real misspelling, a run-together pair or a split word; None if none fits."""
    words = query.split()
    kind = rng.choices(["misspelling", "run-together", "split"], weights=[70, 15, 15])[0]
    if kind == "misspelling":
        spots = [i for i, w in enumerate(words) if w in pairs and len(w) >= 3 and is_dev(w) == dev]
        if spots:
            i = rng.choice(spots)
            words[i] = rng.choice(pairs[words[i]])
            return " ".join(words), kind
    if kind == "run-together" and len(words) >= 2:
        spots = [i for i in range(len(words) - 1) if words[i].isalpha() and words[i + 1].isalpha()]
        if spots:
            i = rng.choice(spots)
            return " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2:]), kind
    if kind == "split":
        for i in rng.sample(range(len(words)), len(words)):
            w = words[i]
            cuts = [k for k in range(3, len(w) - 2) if w[:k] in known and w[k:] in known] if w.isalpha() else []
            if cuts:
                k = rng.choice(cuts)
                return " ".join(words[:i] + [w[:k], w[k:]] + words[i + 1:]), kind
    return None


def build_english(data: Path, known: set[str]) -> dict[str, list[dict]]:
    """English dev/test cases."""
    rng = random.Random(7)
    pairs = misspellings(data, known)
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    for pid, query in english_queries(rng):
        dev = is_dev("en:" + pid)
        case = {"query": query, "expected": query, "kind": "correct"}
        if rng.random() < 0.68:
            got = inject_en(query, pairs, dev, known, rng)
            if got is None:
                continue
            case = {"query": got[0], "expected": query, "kind": got[1]}
        splits["dev" if dev else "test"].append(case)
    return splits


class ZhInjector:
    """Realistic Chinese errors: same-pinyin words, homophones, fuzzy pinyin and observed shape errors."""

    def __init__(self, data: Path):
        import jieba
        from pypinyin import Style, lazy_pinyin

        self.pinyin = lambda text: tuple(toneless(s) for s in lazy_pinyin(text, style=Style.NORMAL))
        self.jieba = jieba
        self.freq: dict[str, int] = {}
        self.words_by_pinyin: dict[tuple, list[str]] = defaultdict(list)
        for line in (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines():
            word, count = line.split(" ")[:2]
            if CJK.fullmatch(word):
                self.freq[word] = int(count)
                if len(word) == 2 and int(count) >= 20:
                    self.words_by_pinyin[self.pinyin(word)].append(word)
        used = {ch for word, count in self.freq.items() if len(word) >= 2 and count >= 3 for ch in word}
        self.chars_by_pinyin: dict[str, list[str]] = defaultdict(list)
        for ch, count in sorted(self.freq.items(), key=lambda kv: -kv[1]):
            if len(ch) == 1 and count >= 50 and ch in used:
                self.chars_by_pinyin[self.pinyin(ch)[0]].append(ch)
        self.shape = self._shape_pairs(data)

    def _shape_pairs(self, data: Path) -> dict[str, list[str]]:
        """right -> wrong characters observed in the SIGHAN test pairs that do not sound alike."""
        out: dict[str, list[str]] = defaultdict(list)
        base = data / "spelling_zh" / "sighan_train"
        for name in ("test13", "test14"):
            wrong = (base / f"{name}_error.txt").read_text(encoding="utf-8").splitlines()
            right = (base / f"{name}_correct.txt").read_text(encoding="utf-8").splitlines()
            for a, b in zip(wrong, right, strict=True):
                for x, y in zip(a, b, strict=True):
                    if x != y and CJK.fullmatch(x) and CJK.fullmatch(y) and self.pinyin(x) != self.pinyin(y):
                        out[y].append(x)
        return out

    def inject(self, query: str, rng: random.Random) -> tuple[str, str] | None:
        """The query with one error, and the error's kind; None when nothing fits."""
        kind = rng.choices(["word-pinyin", "homophone", "fuzzy-pinyin", "shape"], weights=[35, 35, 10, 20])[0]
        spots = [i for i, ch in enumerate(query) if CJK.fullmatch(ch)]
        if kind == "word-pinyin":
            starts, pos = [], 0
            for word in self.jieba.cut(query, HMM=False):
                if len(word) == 2 and CJK.fullmatch(word):
                    starts.append((pos, word))
                pos += len(word)
            rng.shuffle(starts)
            for pos, word in starts:
                options = [w for w in self.words_by_pinyin.get(self.pinyin(word), []) if w != word]
                if options:
                    new = rng.choices(options, weights=[self.freq[w] ** 0.5 for w in options])[0]
                    return query[:pos] + new + query[pos + 2:], kind
            return None
        rng.shuffle(spots)
        for i in spots:
            options = self._char_options(query[i], kind)
            if options:
                weights = [1.0 / (rank + 1) for rank in range(len(options))]
                return query[:i] + rng.choices(options, weights=weights)[0] + query[i + 1:], kind
        return None

    def _char_options(self, ch: str, kind: str) -> list[str]:
        if kind == "shape":
            return self.shape.get(ch, [])
        reading = self.pinyin(ch)[0]
        if kind == "fuzzy-pinyin":
            swaps = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an"))
            variants = {reading.replace(a, b) for a, b in swaps} | {reading.replace(b, a) for a, b in swaps}
            variants |= {"l" + reading[1:] for _ in [0] if reading.startswith("n")}
            variants |= {"n" + reading[1:] for _ in [0] if reading.startswith("l")}
            return [c for v in sorted(variants - {reading}) for c in self.chars_by_pinyin.get(v, [])][:20]
        return [c for c in self.chars_by_pinyin.get(reading, []) if c != ch][:20]


def zh_cases(queries: list[str], injector: ZhInjector, rng: random.Random) -> list[dict]:
    """One case per query: about 60 % get an error put in (a query where nothing fits is dropped), the rest stay
    correct."""
    cases = []
    for query in queries:
        case = {"query": query, "expected": query, "kind": "correct"}
        if rng.random() < 0.6:
            got = injector.inject(query, rng)
            if got is None or got[0] == query:
                continue
            case = {"query": got[0], "expected": query, "kind": got[1]}
        cases.append(case)
    return cases


def build_zh_queries(data: Path) -> dict[str, list[dict]]:
    """Chinese query dev/test cases from held-out query-log queries, and a train split from the rest of them."""
    rng = random.Random(11)
    injector = ZhInjector(data)
    queries = sorted({q.lower() for q in read_query_log(data / "querylog_zh_multicpr" / "train.query.txt")
                      if is_held_out(q) and len(CJK.findall(q)) and 3 <= len(q) <= 20})
    rng.shuffle(queries)
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    for case in zh_cases(queries[:2500], injector, rng):
        splits["dev" if is_dev("zhq:" + case["expected"]) else "test"].append(case)
    # The rest of the held-out queries, with errors put in the same way, make a training split for the scorer's
    # weights (never in the resources, the dev or the test split).
    splits["train"] = zh_cases(queries[2500:], injector, random.Random(13))
    return splits


def build_sighan(data: Path) -> dict[str, list[dict]]:
    """SIGHAN 2013/2014 test pairs split by a hash of the sentence."""
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    base = data / "spelling_zh" / "sighan_train"
    for name in ("test13", "test14"):
        wrong = (base / f"{name}_error.txt").read_text(encoding="utf-8").splitlines()
        right = (base / f"{name}_correct.txt").read_text(encoding="utf-8").splitlines()
        for a, b in zip(wrong, right, strict=True):
            case = {"query": a, "expected": b, "kind": "sighan" if a != b else "correct", "source": name}
            splits["dev" if is_dev("sighan:" + a) else "test"].append(case)
    return splits


def known_english() -> set[str]:
    """The general English word list bundled with symspellpy."""
    from importlib.resources import files

    text = (files("symspellpy") / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    return {line.split(" ")[0] for line in text.splitlines() if line}


def write(name: str, cases: list[dict]) -> None:
    """Write one JSONL file and print its counts by kind."""
    path = OUT / name
    with path.open("w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(json.dumps(case, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = defaultdict(int)
    for case in cases:
        kinds[case["kind"]] += 1
    print(f"{name}: {len(cases)} {dict(sorted(kinds.items()))}")


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("SHOPQUERY_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=Path(default))
    args = parser.parse_args()
    for prefix, splits in (("spelling_en", build_english(args.data_dir, known_english())),
                           ("spelling_zh_query", build_zh_queries(args.data_dir)),
                           ("spelling_zh_sighan", build_sighan(args.data_dir))):
        for split, cases in splits.items():
            write(f"{prefix}_{split}.jsonl", cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
