#!/usr/bin/env python3
"""Build the compact Chinese spelling resources shipped in ``tools/resources/``.

Inputs (from ``../shared/data``, override with ``--data-dir`` or ``$SHOPQUERY_DATA``):

* ``querylog_zh_multicpr/train.query.txt`` - real Taobao queries (``id<TAB>query``). Queries chosen by
  :func:`is_held_out` (about 10 %) are left out, because ``scripts/build_spelling_eval.py`` makes the
  Chinese query eval sets from them.
* ``lexicon_zh_ecom/data/dics/*.dic`` - brand and product-type dictionaries.
* ``catalog_zh_taobao_titles/data/ecommerce/*.txt`` and ``lexicon_zh_ecom/data/ecommerce/*.bieos`` - Taobao
  product titles and tagged short titles (e-commerce text for the n-grams).
* ``spelling_zh/sighan_train/train1[345]_*.txt``, ``spelling_zh/lemon/lemon_v2/*.txt`` and
  ``spelling_zh/ecspell/Data/domains_data/*.test`` - sentence pairs: their correct side feeds the character
  n-gram counts, their character substitutions make the confusion set. The SIGHAN *test* files are the eval
  data: they are read only to drop any training pair that shares a 15-character stretch with one of their
  sentences (:func:`overlaps_eval`).
* jieba's bundled ``dict.txt`` (word frequencies; its words also add their inner character n-grams, weighted by
  the log of their frequency) and pypinyin's character readings, from the installed packages.

Outputs (deterministic):

* ``zh_ngrams.tsv.gz`` - ``ngram<TAB>count`` for character 1-, 2- and 3-grams (``^``/``$`` mark run edges);
  bigrams and trigrams seen once are pruned.
* ``zh_words.tsv.gz`` - ``word<TAB>count<TAB>tags`` for Chinese words and Latin-letter words such as ``t恤`` (tags: ``b`` brand, ``p`` product type, ``q`` query log).
* ``zh_confusion.tsv`` - ``wrong<TAB>right<TAB>count`` character substitutions observed in the pairs, plus those
  mined from the query log (a rare non-dictionary word one character away from a word 20x as frequent).
* ``zh_chars.tsv`` - ``char<TAB>readings<TAB>flag``: toneless pinyin readings of every character pypinyin knows;
  flag ``s`` marks the characters of jieba's multi-character (simplified) words. Others - traditional or variant
  forms, rare name characters - are never edited.

Usage::

    .venv/bin/python scripts/build_spelling_resources.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tools" / "resources"
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
MIXED = re.compile(r"[a-z0-9]{1,3}[\u3400-\u4dbf\u4e00-\u9fff]{1,3}")
LOG_MIXED = re.compile(r"(?<![a-z0-9])[a-z]{1,2}[\u3400-\u4dbf\u4e00-\u9fff]")
MIN_JIEBA_FREQ = 3
MIN_LOG_WORD = 2


def is_held_out(query: str) -> bool:
    """True for the ~10 % of query-log queries reserved for evaluation (never counted into resources)."""
    return hashlib.sha256(("spelling-eval:" + query).encode("utf-8")).digest()[0] < 26


def read_query_log(path: Path) -> list[str]:
    """Queries of an ``id<TAB>query`` (or one query per line) file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        query = line.split("\t", 1)[-1].strip()
        if query:
            out.append(query)
    return out


def sentence_pairs(data: Path) -> Iterator[tuple[str, str]]:
    """(wrong, right) sentence pairs from the SIGHAN train, LEMON and ECSpell files."""
    sighan = data / "spelling_zh" / "sighan_train"
    for name in ("train13", "train14", "train15"):
        wrong = (sighan / f"{name}_error.txt").read_text(encoding="utf-8").splitlines()
        right = (sighan / f"{name}_correct.txt").read_text(encoding="utf-8").splitlines()
        yield from zip(wrong, right, strict=True)
    for path in sorted((data / "spelling_zh" / "lemon" / "lemon_v2").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            src, _, tgt = line.partition("\t")
            yield src.replace(" ", ""), tgt.replace(" ", "")
    for path in sorted((data / "spelling_zh" / "ecspell" / "Data" / "domains_data").glob("*.test")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                yield parts[1], parts[2]


def eval_windows(data: Path, width: int = 15) -> set[str]:
    """Every ``width``-character stretch of the SIGHAN test sentences (the Chinese sentence eval data)."""
    windows: set[str] = set()
    base = data / "spelling_zh" / "sighan_train"
    for name in ("test13_error.txt", "test13_correct.txt", "test14_error.txt", "test14_correct.txt"):
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            windows.update(line[i:i + width] for i in range(max(1, len(line) - width + 1)))
    return windows


def overlaps_eval(pair: tuple[str, str], windows: set[str], width: int = 15) -> bool:
    """True when either side of a training pair shares a ``width``-character stretch with an eval sentence."""
    return any(text[i:i + width] in windows for text in pair for i in range(max(1, len(text) - width + 1)))


def char_per_line_texts(paths: Iterable[Path]) -> list[str]:
    """Texts of files with one ``char<TAB or SPACE>tag`` per line and a blank line between texts."""
    texts, current = [], []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                if current:
                    texts.append("".join(current))
                current = []
            else:
                current.append(line.split()[0] if line.split() else " ")
    if current:
        texts.append("".join(current))
    return texts


def title_texts(data: Path) -> list[str]:
    """Taobao product titles and tagged short titles/queries (e-commerce text for the n-grams)."""
    titles = sorted((data / "catalog_zh_taobao_titles" / "data" / "ecommerce").glob("*.txt"))
    tagged = sorted((data / "lexicon_zh_ecom" / "data" / "ecommerce").glob("*.bieos"))
    return [unicodedata.normalize("NFKC", t).lower() for t in char_per_line_texts([*titles, *tagged])]


def word_ngrams(words: Counter[str]) -> Counter[str]:
    """Character n-grams inside dictionary words, weighted by the log of the word frequency."""
    counts: Counter[str] = Counter()
    for word, freq in words.items():
        if len(word) >= 2 and CJK.fullmatch(word):
            weight = max(1, int(math.log2(freq)) - 2)
            for n in (2, 3):
                for i in range(len(word) - n + 1):
                    counts[word[i:i + n]] += weight
    return counts


def char_ngrams(texts: Iterable[str], weight: int = 1) -> Counter[str]:
    """Character 1-3-gram counts over the CJK runs of the texts, with ``^``/``$`` at run edges."""
    counts: Counter[str] = Counter()
    for text in texts:
        for run in CJK.findall(text):
            padded = "^" + run + "$"
            for n in (1, 2, 3):
                for i in range(len(padded) - n + 1):
                    counts[padded[i:i + n]] += weight
    return counts


def confusion_pairs(pairs: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """Counts of single-character substitutions between aligned wrong/right sentences of equal length."""
    counts: Counter[tuple[str, str]] = Counter()
    for wrong, right in pairs:
        if len(wrong) != len(right) or wrong == right:
            continue
        diffs = [(a, b) for a, b in zip(wrong, right, strict=True) if a != b]
        if len(diffs) > 3:
            continue
        counts.update((a, b) for a, b in diffs if CJK.fullmatch(a) and CJK.fullmatch(b))
    return counts


def mined_confusion(log_counts: Counter[str], known: Counter[str]) -> Counter[tuple[str, str]]:
    """Character substitutions that turn a rare query-log word into a far more frequent one differing in one
    character (``t桖`` -> ``t恤``): real typos observed in the log. The rare word must not be a dictionary word."""
    by_pattern: dict[str, list[str]] = {}
    for word, count in log_counts.items():
        if 2 <= len(word) <= 4 and count >= 20:
            for i in range(len(word)):
                by_pattern.setdefault(word[:i] + "?" + word[i + 1:], []).append(word)
    pairs: Counter[tuple[str, str]] = Counter()
    for word, count in log_counts.items():
        if not 2 <= len(word) <= 4 or word in known or count > 3:
            continue
        for i in range(len(word)):
            for other in by_pattern.get(word[:i] + "?" + word[i + 1:], ()):
                if other != word and log_counts[other] >= 20 * count and CJK.fullmatch(word[i] + other[i]):
                    pairs[(word[i], other[i])] += 2
    return pairs


def jieba_words(min_freq: int) -> Counter[str]:
    """Word frequencies of jieba's bundled dictionary (CJK words only)."""
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    words: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ")
        word = parts[0].lower()
        if len(parts) >= 2 and (CJK.fullmatch(word) or MIXED.fullmatch(word)) and int(parts[1]) >= min_freq:
            words[word] = max(words[word], int(parts[1]))
    return words


def log_words(queries: list[str], lexicon: Iterable[str]) -> Counter[str]:
    """Multi-character words of the query log, segmented with jieba taught the lexicon."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    for term in lexicon:
        jieba.add_word(term, freq=2000)
    counts: Counter[str] = Counter()
    for query in queries:
        for run in CJK.findall(query):
            counts.update(w for w in jieba.cut(run, HMM=False) if len(w) >= 2)
        counts.update(LOG_MIXED.findall(query))
    return counts


def lexicon_terms(data: Path) -> dict[str, str]:
    """Brand (``b``) and product-type (``p``) terms from the e-commerce dictionaries."""
    tags: dict[str, str] = {}
    for path in sorted((data / "lexicon_zh_ecom" / "data" / "dics").glob("*.dic")):
        tag = "b" if path.name.startswith("brand") else "p"
        for line in path.read_text(encoding="utf-8").splitlines():
            term = unicodedata.normalize("NFKC", line.strip()).lower()
            if term and CJK.search(term):
                tags[term] = "".join(sorted(set(tags.get(term, "") + tag)))
    return tags


def toneless(reading: str) -> str:
    """'zhōng' -> 'zhong', 'lǜ' -> 'lv'."""
    base = unicodedata.normalize("NFD", reading.replace("ü", "v"))
    return "".join(ch for ch in base if not unicodedata.combining(ch)).replace("u\u0308", "v")


def simplified_chars(words: Counter[str]) -> set[str]:
    """Characters used in the multi-character words of jieba's (simplified) dictionary."""
    return {ch for word, freq in words.items() if len(word) >= 2 and freq >= MIN_JIEBA_FREQ for ch in word}


def char_readings(chars: Iterable[str]) -> dict[str, str]:
    """Toneless pinyin readings (comma-joined, most common first) of each character pypinyin knows."""
    from pypinyin.pinyin_dict import pinyin_dict

    out = {}
    for ch in chars:
        raw = pinyin_dict.get(ord(ch))
        if raw:
            readings = list(dict.fromkeys(toneless(r) for r in raw.split(",")))
            out[ch] = ",".join(r for r in readings if r.isalpha())
    return {ch: r for ch, r in out.items() if r}


def write_tsv(path: Path, rows: Iterable[tuple], compress: bool) -> int:
    """Write rows as TSV (gzip with a fixed mtime when asked); returns the size in bytes."""
    text = "".join("\t".join(str(x) for x in row) + "\n" for row in rows)
    if compress:
        path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path.stat().st_size


def build(data: Path, out: Path) -> None:
    """Read the sources under ``data`` and write the four resource files into ``out``."""
    queries = [q for q in read_query_log(data / "querylog_zh_multicpr" / "train.query.txt") if not is_held_out(q)]
    queries = [unicodedata.normalize("NFKC", q).lower() for q in queries]
    lexicon = lexicon_terms(data)
    windows = eval_windows(data)
    pairs = [pair for pair in sentence_pairs(data) if not overlaps_eval(pair, windows)]
    ngrams = char_ngrams(queries, weight=2) + char_ngrams(right for _, right in pairs)
    ngrams += char_ngrams(lexicon, weight=1) + char_ngrams(title_texts(data), weight=1)
    words = jieba_words(MIN_JIEBA_FREQ)
    common = simplified_chars(words)
    ngrams += word_ngrams(words)
    ngrams = Counter({g: c for g, c in ngrams.items() if len(g.strip("^$")) <= 1 or c >= 2})
    all_log = log_words(queries, lexicon)
    from_log = Counter({w: c for w, c in all_log.items() if c >= MIN_LOG_WORD})
    tags: dict[str, str] = dict(lexicon)
    for word, count in from_log.items():
        words[word] += count * 20
        tags[word] = "".join(sorted(set(tags.get(word, "") + "q")))
    for term in lexicon:
        words[term] = max(words[term], 50)
    confusion = confusion_pairs(pairs) + mined_confusion(all_log, jieba_words(1))
    from pypinyin.pinyin_dict import pinyin_dict

    chars = {chr(code) for code in pinyin_dict if CJK.fullmatch(chr(code))}
    out.mkdir(parents=True, exist_ok=True)
    sizes = {
        "zh_ngrams.tsv.gz": write_tsv(out / "zh_ngrams.tsv.gz", sorted(ngrams.items()), True),
        "zh_words.tsv.gz": write_tsv(out / "zh_words.tsv.gz",
                                     ((w, c, tags.get(w, "")) for w, c in sorted(words.items())), True),
        "zh_confusion.tsv": write_tsv(out / "zh_confusion.tsv",
                                      ((a, b, c) for (a, b), c in sorted(confusion.items())), False),
        "zh_chars.tsv": write_tsv(out / "zh_chars.tsv", ((ch, r, "s" if ch in common else "")
                                                         for ch, r in sorted(char_readings(sorted(chars)).items())),
                                  False),
    }
    print(f"queries used: {len(queries)}; sentence pairs: {len(pairs)}; ngrams: {len(ngrams)}; "
          f"words: {len(words)}; confusion pairs: {len(confusion)}")
    for name, size in sizes.items():
        print(f"{name}: {size / 1e6:.2f} MB")


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("SHOPQUERY_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=Path(default))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    build(args.data_dir, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
