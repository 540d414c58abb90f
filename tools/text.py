"""Text normalisation and tokenisation shared by the catalog index and queries (Chinese, English, mixed)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:[.\-_/+][a-z0-9]+)*")
_CJK_RUN = re.compile(rf"^[{_CJK}]+$")
_ALNUM = re.compile(r"[a-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EN_STOPWORDS = frozenset(
    "a an and the for of with to in on at by from or is are be as it its this that i me my we you your "
    "please want need looking show find buy some any".split()
)
ZH_STOPWORDS = frozenset("的 了 和 与 及 或 个 款 我 要 想 买 找 一个 有 吗 呢 吧 啊 请 给 帮".split())

_jieba_lock = threading.Lock()
_jieba_ready = False


def normalize(text: str) -> str:
    """NFKC-normalise (full-width to half-width), lowercase, drop control characters, squeeze spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text).lower()
    return " ".join(text.split())


def is_cjk(text: str) -> bool:
    """True when the text is made only of CJK ideographs."""
    return bool(_CJK_RUN.match(text))


def has_cjk(text: str) -> bool:
    """True when the text holds at least one CJK ideograph."""
    return any(is_cjk(ch) for ch in text)


def _jieba():
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return jieba


def add_words(words: Iterable[str]) -> None:
    """Teach the Chinese segmenter catalog terms (brands, categories) so they stay whole."""
    jieba = _jieba()
    for word in words:
        word = normalize(word)
        if 2 <= len(word) <= 12 and has_cjk(word) and " " not in word:
            jieba.add_word(word, freq=20000)


def stem_en(word: str) -> str:
    """A light English plural folder: 'cables'->'cable', 'batteries'->'battery', 'boxes'->'box'."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def _word_tokens(run: str) -> list[str]:
    """Tokens of a non-Chinese run: the word plural-folded, or a joined compound and its alnum parts."""
    if run in EN_STOPWORDS:
        return []
    parts = _ALNUM.findall(run)
    if len(parts) > 1:
        return ["".join(parts), *(stem_en(p) for p in parts)]
    return [stem_en(run)]


def tokenize(text: str) -> list[str]:
    """Tokens for matching words: jieba search-mode words for Chinese runs, words (and their alnum parts) for the
    rest."""
    tokens: list[str] = []
    for run in _RUN.findall(normalize(text)):
        if is_cjk(run):
            tokens.extend(w for w in _jieba().cut_for_search(run) if w not in ZH_STOPWORDS)
        else:
            tokens.extend(_word_tokens(run))
    return [t for t in tokens if t.strip()]


def index_tokens(text: str) -> list[str]:
    """Tokens of the BM25 index and its queries: single characters for Chinese runs (a shopper's words and a
    title's rarely segment alike; characters always meet), words as in `tokenize` for the rest."""
    tokens: list[str] = []
    for run in _RUN.findall(normalize(text)):
        if is_cjk(run):
            tokens.extend(ch for ch in run if ch not in ZH_STOPWORDS)
        else:
            tokens.extend(_word_tokens(run))
    return [t for t in tokens if t.strip()]
