"""English spelling correction for shopping queries: SymSpell candidates over a general + catalog + query-log
dictionary, keyboard-aware edit costs, bigram context, splitting of run-together words and joining of split words;
numbers, sizes, model numbers, SKUs and protected terms are never changed."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.\-_/+'][A-Za-z0-9]+)*")
SIZE = re.compile(r"^(?:x{0,4}[sml]|[0-9]*x{1,4}l|xxs|one ?size)$")
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
VOWELS = set("aeiouy")
GENERAL_WORDS = "frequency_dictionary_en_82_765.txt"
GENERAL_BIGRAMS = "frequency_bigramdictionary_en_243_342.txt"

# (position in the original text, source span, target span, reason, margin over the threshold)
FixTuple = tuple[int, str, str, str, float]


@dataclass
class EnParams:
    """Weights of the English scorer; tuned on the dev split only."""

    max_edit: int = 2
    edit_cost: float = 8.0
    unknown_logp: float = -30.0
    context_lambda: float = 0.5
    split_cost: float = 4.0
    join_cost: float = 2.0
    min_known_count: int = 5000
    min_candidate_count: int = 2000
    min_split_part_count: int = 200000
    catalog_boost: float = 2_000_000.0
    candidates: int = 12
    min_fix_len: int = 4


def _key_positions() -> dict[str, tuple[int, int]]:
    return {ch: (row, col) for row, keys in enumerate(KEYBOARD_ROWS) for col, ch in enumerate(keys)}


KEY_POS = _key_positions()


def substitution_cost(a: str, b: str) -> float:
    """Cheaper for neighbouring keys and for vowel-for-vowel swaps (how people really mistype and misspell)."""
    if a == b:
        return 0.0
    pa, pb = KEY_POS.get(a), KEY_POS.get(b)
    if pa and pb and abs(pa[0] - pb[0]) <= 1 and abs(pa[1] - pb[1]) <= 1:
        return 0.6
    if a in VOWELS and b in VOWELS:
        return 0.7
    return 1.0


def one_slip(typed: str, word: str) -> bool:
    """True when `word` is `typed` with one letter changed, added, removed, or two neighbours swapped."""
    if typed == word or abs(len(typed) - len(word)) > 1:
        return False
    if len(typed) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and typed[diff[0]] == word[diff[1]] and typed[diff[1]] == word[diff[0]])
    short, long = sorted((typed, word), key=len)
    i = next((k for k, (a, b) in enumerate(zip(short, long, strict=False)) if a != b), len(short))
    return short[i:] == long[i + 1:]


def weighted_distance(typed: str, word: str) -> float:
    """Damerau-Levenshtein distance with keyboard-adjacency, vowel, doubled-letter and transposition discounts."""
    n, m = len(typed), len(word)
    prev2: list[float] = []
    prev = [float(j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [float(i)] + [0.0] * m
        for j in range(1, m + 1):
            a, b = typed[i - 1], word[j - 1]
            drop = 0.5 if i > 1 and typed[i - 2] == a else 1.0
            add = 0.5 if j > 1 and word[j - 2] == b else 1.0
            cur[j] = min(prev[j] + drop, cur[j - 1] + add, prev[j - 1] + substitution_cost(a, b))
            if i > 1 and j > 1 and a == word[j - 2] and typed[i - 2] == b:
                cur[j] = min(cur[j], prev2[j - 2] + 0.7)
        prev2, prev = prev, cur
    return prev[m]


def is_protected_token(token: str, original: str) -> bool:
    """Numbers, sizes, model numbers and SKUs (any digit), short tokens and acronyms typed in capitals."""
    if any(ch.isdigit() for ch in token) or len(token) <= 2 or SIZE.match(token):
        return True
    if not token.isalpha():
        return True
    return original.isupper() and len(original) <= 5


def general_word_counts() -> dict[str, int]:
    """The general English frequency list bundled with symspellpy."""
    text = (files("symspellpy") / GENERAL_WORDS).read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def general_bigram_counts() -> dict[str, int]:
    """The English bigram counts bundled with symspellpy ('w1 w2' -> count)."""
    text = (files("symspellpy") / GENERAL_BIGRAMS).read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 3:
            out[parts[0] + " " + parts[1]] = int(parts[2])
    return out


def match_case(original: str, word: str) -> str:
    """Give the replacement the casing of what the shopper typed."""
    if original.isupper() and len(original) > 1:
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class EnglishCorrector:
    """Corrects the Latin-script tokens of a query."""

    def __init__(self, symspell: Any, bigrams: dict[str, int], protected: set[str], params: EnParams | None = None,
                 learned: set[str] | None = None):
        self.symspell = symspell
        self.bigrams = bigrams
        self.protected = protected
        self.learned = learned if learned is not None else set()
        self.params = params or EnParams()
        self.total = float(sum(symspell.words.values())) or 1.0

    @classmethod
    def build(cls, words: dict[str, int], bigrams: dict[str, int], params: EnParams | None = None) -> EnglishCorrector:
        """A corrector over these word counts (the SymSpell delete index is built here: a few seconds)."""
        from symspellpy import SymSpell

        params = params or EnParams()
        symspell = SymSpell(max_dictionary_edit_distance=params.max_edit, prefix_length=7)
        for word, count in words.items():
            symspell.create_dictionary_entry(word, count)
        return cls(symspell, bigrams, set(), params, set())

    def add_terms(self, terms: Iterable[str], protected: bool = False, boost: float | None = None) -> list[str]:
        """Add words (from catalog or query-log text) with a boosted count; protected ones are never changed."""
        taken = []
        count = int(boost or self.params.catalog_boost)
        for term in terms:
            for token in TOKEN.findall(term.lower()):
                parts = set(re.findall(r"[a-z]{2,}", token)) | ({token} if token.isalpha() else set())
                for part in parts:
                    self.symspell.create_dictionary_entry(part, count)
                    self.total += count
                    taken.append(part)
                    self.learned.add(part)
                if protected:
                    self.protected.update(parts | {token})
        return taken

    def count(self, word: str) -> int:
        """Dictionary count of a word (0 when unknown)."""
        return self.symspell.words.get(word, 0)

    def logp(self, word: str, left: str | None = None) -> float:
        """log P(word | left word): the bigram estimate interpolated with the unigram."""
        p_word = self.count(word) / self.total
        if p_word == 0:
            return self.params.unknown_logp
        left_count = self.count(left) if left else 0
        if not left_count:
            return math.log(p_word)
        lam = self.params.context_lambda
        return math.log(lam * min(1.0, self.bigrams.get(left + " " + word, 0) / left_count) + (1 - lam) * p_word)

    def in_context(self, words: list[str], left: str | None, right: str | None) -> float:
        """log-probability of a run of words between a left and a right neighbour."""
        total, prev = 0.0, left
        for word in words:
            total += self.logp(word, prev)
            prev = word
        if right and self.count(right):
            total += self.logp(right, prev) - self.logp(right)
        return total

    def is_known(self, token: str) -> bool:
        """A word the dictionary knows well enough, or a protected term."""
        return token in self.protected or self.count(token) >= self.params.min_known_count

    def correct(self, text: str, mixed: bool = False) -> tuple[list[FixTuple], float]:
        """Edits for the Latin-script tokens of the text, and the best rejected margin (for confidence).
        In a `mixed` (Chinese + Latin) query, Latin words are mostly brands and models: the only corrections made
        there are single slips (one letter wrong, missing or swapped; never one dropped) into words learned from
        the catalog or query log."""
        matches = list(TOKEN.finditer(text))
        tokens = [m.group().lower() for m in matches]
        fixes: list[FixTuple] = []
        out_words: list[str | None] = []
        near_miss = -math.inf
        i = 0
        while i < len(tokens):
            left = out_words[-1] if out_words else None
            right = tokens[i + 2] if i + 2 < len(tokens) else None
            joined = self._join(tokens, i, left, right, matches)
            if joined:
                fixes.append(joined)
                out_words.append(joined[2].lower())
                i += 2
                continue
            fix, miss = self._fix_token(matches[i], tokens[i], left, tokens[i + 1] if i + 1 < len(tokens) else None)
            near_miss = max(near_miss, miss)
            if fix and mixed and not self._slip_into_learned(fix[1].lower(), fix[2].lower(), fix[3]):
                fix = None
            if fix:
                fixes.append(fix)
            out_words.append((fix[2].lower().split() or [None])[-1] if fix else tokens[i])
            i += 1
        return fixes, near_miss

    def _slip_into_learned(self, source: str, target: str, reason: str) -> bool:
        return reason == "spelling" and target in self.learned and len(target) >= len(source) \
            and one_slip(source, target)

    def _fix_token(self, match: re.Match, token: str, left: str | None,
                   right: str | None) -> tuple[FixTuple | None, float]:
        if is_protected_token(token, match.group()) or self.is_known(token) or len(token) < self.params.min_fix_len:
            return None, -math.inf
        right = right if right and self.is_known(right) else None
        base = self.in_context([token], left, right)
        best: tuple[float, list[str], str] | None = None
        for words, cost, reason in self._options(token):
            score = self.in_context(words, left, right) - cost
            if best is None or score > best[0]:
                best = (score, words, reason)
        if best is None:
            return None, -math.inf
        if best[0] <= base:
            return None, best[0] - base
        target = match_case(match.group(), " ".join(best[1]))
        return (match.start(), match.group(), target, best[2], best[0] - base), -math.inf

    def _options(self, token: str) -> list[tuple[list[str], float, str]]:
        p = self.params
        out = [([term], p.edit_cost * weighted_distance(token, term), "spelling") for term in self._lookup(token)]
        out.extend((parts, p.split_cost * (len(parts) - 1), "segmentation") for parts in self._splits(token, 3))
        return out

    def _lookup(self, token: str) -> list[str]:
        """Dictionary words within the edit distance: distance 1 first, distance 2 only when 1 finds nothing."""
        from symspellpy import Verbosity

        p = self.params
        found: list[str] = []
        for distance in range(1, p.max_edit + 1):
            items = self.symspell.lookup(token, Verbosity.ALL, max_edit_distance=distance)
            found = [i.term for i in items if i.count >= p.min_candidate_count or i.term in self.protected]
            if found:
                break
        return found[:p.candidates]

    def _splits(self, token: str, max_parts: int) -> list[list[str]]:
        """Ways to cut a run-together token into known words (at most `max_parts` words)."""
        found: list[list[str]] = []
        if max_parts < 2 or len(token) < 5:
            return found
        for cut in range(2, len(token) - 1):
            head, tail = token[:cut], token[cut:]
            if not self._split_part(head):
                continue
            if self._split_part(tail):
                found.append([head, tail])
            found.extend([head, *rest] for rest in self._splits(tail, max_parts - 1))
        return found

    def _split_part(self, word: str) -> bool:
        if word in self.protected:
            return True
        need = self.params.min_candidate_count if len(word) >= 4 else self.params.min_split_part_count
        return len(word) >= 2 and self.count(word) >= need

    def _join(self, tokens: list[str], i: int, left: str | None, right: str | None,
              matches: list[re.Match]) -> FixTuple | None:
        """Two tokens that should be one word ('head phones' -> 'headphones')."""
        if i + 1 >= len(tokens):
            return None
        a, b = tokens[i], tokens[i + 1]
        if not (a.isalpha() and b.isalpha()) or min(len(a), len(b)) < 2 or a in self.protected \
                or b in self.protected:
            return None
        joined = a + b
        if not self.is_known(joined):
            return None
        right = right if right and self.is_known(right) else None
        apart = self.in_context([a, b], left, right)
        together = self.in_context([joined], left, right) - self.params.join_cost
        if together <= apart:
            return None
        start, end = matches[i].start(), matches[i + 1].end()
        source = matches[i].string[start:end]
        return (start, source, match_case(matches[i].group(), joined), "join", together - apart)
