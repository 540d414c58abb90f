"""English spelling correction for shopping queries: SymSpell candidates over a general + catalog + query-log
dictionary, keyboard-aware edit costs, bigram context, splitting of run-together words and joining of split words;
numbers, sizes, model numbers, SKUs and protected terms are never changed."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from importlib.resources import files
from typing import Any, NamedTuple

from tools.spelling_en_lm import (
    KNOWN_DOMAIN,
    EditScorer,
    WordModel,
    features,
    general_zipf,
    shipped_scorer,
    typed_side,
    with_rivals,
)

TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.\-_/+'][A-Za-z0-9]+)*")
SIZE = re.compile(r"^(?:x{0,4}[sml]|[0-9]*x{1,4}l|xxs|one ?size)$")
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
VOWELS = set("aeiouy")
LOOKUP_CACHE = 20_000  # words whose candidates are kept (a few MB)
GENERAL_WORDS = "frequency_dictionary_en_82_765.txt"
GENERAL_BIGRAMS = "frequency_bigramdictionary_en_243_342.txt"

# (position in the original text, source span, target span, reason, score: the edit's probability for English)
FixTuple = tuple[int, str, str, str, float]


@dataclass
class EnParams:
    """Settings of the English corrector (the edit scorer and its default threshold ship in en_scorer.json)."""

    max_edit: int = 2
    candidates: int = 12
    min_fix_len: int = 4
    min_candidate_zipf: float = 1.5
    min_candidate_domain: int = 2
    threshold: float | None = None


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


def _substitution_costs() -> dict[str, dict[str, float]]:
    """substitution_cost for every pair of letters, by typed letter: the distance loop reads one row per typed
    letter."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return {a: {b: substitution_cost(a, b) for b in letters} for a in letters}


SUBSTITUTION_ROWS = _substitution_costs()


def weighted_distance(typed: str, word: str) -> float:
    """Damerau-Levenshtein distance with keyboard-adjacency, vowel, doubled-letter and transposition discounts; a
    vowel left out inside a word (papr, walnt) costs less than any other missing letter.

    It runs for every dictionary neighbour of every token, so the costs that depend on one string only are
    computed once per row or column."""
    m = len(word)
    add = [0.0] + [0.5 if j > 1 and word[j - 2] == word[j - 1] else 0.6 if j > 1 and word[j - 1] in VOWELS else 1.0
                   for j in range(1, m + 1)]
    columns = range(1, m + 1)
    prev2: list[float] = []
    prev = [float(j) for j in range(m + 1)]
    for i, a in enumerate(typed, start=1):
        before = typed[i - 2] if i > 1 else None
        drop = 0.5 if before == a else 1.0
        costs = SUBSTITUTION_ROWS.get(a, {})
        cur = [float(i)] + [0.0] * m
        left = float(i)
        for j in columns:
            b = word[j - 1]
            value = prev[j] + drop
            other = left + add[j]
            if other < value:
                value = other
            other = prev[j - 1] + (0.0 if a == b else costs.get(b, 1.0))
            if other < value:
                value = other
            if j > 1 and a == word[j - 2] and before == b:
                other = prev2[j - 2] + 0.7
                if other < value:
                    value = other
            cur[j] = left = value
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


def plural_pair(a: str, b: str) -> bool:
    """One is the other with a plural s/es."""
    short, long = sorted((a, b), key=len)
    return long in (short + "s", short + "es")


class Option(NamedTuple):
    """One way to rewrite the typed tokens [start, start + span): the words, why, and the scorer's features."""

    start: int
    span: int
    words: list[str]
    reason: str
    vector: list[float]


class CompiledDistance:
    """What SymSpell asks of its distance comparer (`compare(a, b, max_distance)`, -1 beyond the maximum),
    answered by editdistpy's compiled Damerau-OSA distance: the distances of symspellpy's own Python loop in about
    half the time, and without the import that symspellpy's editdistpy comparer makes on every call."""

    def __init__(self) -> None:
        from editdistpy import damerau_osa

        self.compare = damerau_osa.distance

    def __reduce__(self) -> tuple[type, tuple]:
        return CompiledDistance, ()


class EnglishCorrector:
    """Corrects the Latin-script tokens of a query, only where the calibrated scorer is confident."""

    def __init__(self, symspell: Any, model: WordModel, protected: set[str], params: EnParams | None = None,
                 learned: set[str] | None = None, scorer: EditScorer | None = None):
        self.symspell = symspell
        symspell.distance_comparer = CompiledDistance()
        self.model = model
        self.protected = protected
        self.learned = learned if learned is not None else set()
        self.params = params or EnParams()
        self._scorer = scorer
        # a word's candidates, kept until the vocabulary changes: most of a correct query's time is spent finding
        # the neighbours of words already seen in earlier queries
        self._lookups: dict[tuple[str, tuple], list[tuple[str, float]]] = {}
        self._lookups_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """A copy (pickle) takes the dictionaries and the model, not the per-process candidate cache or its lock."""
        state = dict(self.__dict__)
        del state["_lookups"], state["_lookups_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lookups = {}
        self._lookups_lock = threading.Lock()

    @classmethod
    def build(cls, words: dict[str, int], bigrams: dict[str, int], params: EnParams | None = None) -> EnglishCorrector:
        """A corrector over these general word and bigram counts plus wordfreq's list (a few seconds)."""
        from symspellpy import SymSpell

        params = params or EnParams()
        symspell = SymSpell(max_dictionary_edit_distance=params.max_edit, prefix_length=7)
        for word, count in words.items():
            symspell.create_dictionary_entry(word, count)
        zipf = general_zipf()
        for word, value in zipf.items():
            if value >= params.min_candidate_zipf and word not in words:
                symspell.create_dictionary_entry(word, max(1, round(10 ** (value - 1))))
        return cls(symspell, WordModel(zipf, words, bigrams), set(), params, set())

    @property
    def scorer(self) -> EditScorer:
        """The edit scorer: the one given, or else the shipped one (read when first needed, so that the fitting
        script can build correctors while the shipped file is being replaced)."""
        return self._scorer if self._scorer is not None else shipped_scorer()

    @scorer.setter
    def scorer(self, scorer: EditScorer | None) -> None:
        self._scorer = scorer

    @property
    def threshold(self) -> float:
        """The probability an edit needs before it is made."""
        return self.params.threshold if self.params.threshold is not None else self.scorer.threshold

    def learn_queries(self, queries: list[str], min_count: int) -> None:
        """A query log: all of it feeds the language model; words in at least `min_count` queries become
        candidates (rarer ones may be typos)."""
        self.model.add_text(queries)
        counts = Counter(t for q in queries for t in set(re.findall(r"[a-z]{2,}", q.lower())))
        self.add_terms(sorted(w for w, c in counts.items() if c >= min_count), weight=0)

    def clear_cache(self) -> None:
        """Forget every word's cached candidates."""
        with self._lookups_lock:
            self._lookups.clear()

    def add_terms(self, terms: Iterable[str], protected: bool = False, weight: int = KNOWN_DOMAIN) -> list[str]:
        """Add catalog or query text: its words become candidates and (with a `weight`) feed the language model;
        protected terms are never changed."""
        terms = list(terms)
        self.clear_cache()
        if weight:
            self.model.add_text(terms, weight)
        taken = []
        for term in terms:
            for token in TOKEN.findall(term.lower()):
                parts = set(re.findall(r"[a-z]{2,}", token)) | ({token} if token.isalpha() else set())
                for part in parts:
                    self.symspell.create_dictionary_entry(part, 1)
                    self.learned.add(part)
                    taken.append(part)
                if protected:
                    self.protected.update(parts | {token})
        return taken

    def is_known(self, token: str) -> bool:
        """A real word (general English or the shop's text) or a protected term."""
        return token in self.protected or self.model.is_known(token)

    def correct(self, text: str, mixed: bool = False) -> tuple[list[FixTuple], float]:
        """Edits for the Latin-script tokens of the text (the last field is the edit's probability of being
        right), and the best probability among the edits not made. In a `mixed` (Chinese + Latin) query, Latin
        words are mostly brands and models: the only corrections made there are single slips (one letter wrong,
        missing or swapped; never one dropped) into words learned from the catalog or query log."""
        matches = list(TOKEN.finditer(text))
        tokens = [m.group().lower() for m in matches]
        fixes: list[FixTuple] = []
        near_miss, left, i = 0.0, None, 0
        while i < len(tokens):
            best, p = self.best_option(matches, tokens, i, left)
            if best and mixed and not self._slip_into_learned(tokens[i], " ".join(best.words), best.reason):
                best = None
            if best is None or p < self.threshold:
                near_miss = max(near_miss, p if best else 0.0)
                left, i = tokens[i], i + 1
                continue
            start, end = matches[i].start(), matches[i + best.span - 1].end()
            target = match_case(matches[i].group(), " ".join(best.words))
            fixes.append((start, text[start:end], target, best.reason, round(p, 4)))
            left, i = best.words[-1], i + best.span
        return fixes, near_miss

    def best_option(self, matches: list[re.Match], tokens: list[str], i: int,
                    left: str | None) -> tuple[Option | None, float]:
        """The most probable rewrite starting at token i, with its probability."""
        options = self.options(matches, tokens, i, left)
        best, best_p = None, 0.0
        for option, p in zip(options, self.scorer.probabilities([o.vector for o in options]), strict=True):
            if p > best_p:
                best, best_p = option, p
        return best, best_p

    def options(self, matches: list[re.Match], tokens: list[str], i: int, left: str | None) -> list[Option]:
        """Every candidate rewrite starting at token i: respellings, splits, and joins with the next tokens."""
        found: list[tuple[int, list[str], str, float]] = []
        token = tokens[i]
        if self._correctable(token, matches[i].group()):
            found += [(1, [c], "spelling", d) for c, d in self._lookup(token)]
            found += [(1, parts, "segmentation", 0.0) for parts in self._splits(token, 3)]
        for span in (2, 3):
            if i + span <= len(tokens) and self._joinable(tokens[i:i + span]):
                found += [(span, [c], "join", d) for c, d in self._join_candidates("".join(tokens[i:i + span]))]
        out, spans = [], {}
        for span, words, reason, distance in found:
            right = tokens[i + span] if i + span < len(tokens) and tokens[i + span].isalpha() else None
            if span not in spans:
                spans[span] = typed_side(self.model, tokens[i:i + span], left, right)
            gain = self.model.run_logp(words, left, right) - spans[span].logp
            out.append(Option(i, span, words, reason, features(self.model, spans[span], words, distance, gain)))
        return with_rivals(out)

    def _correctable(self, token: str, original: str) -> bool:
        return not is_protected_token(token, original) and token not in self.protected \
            and len(token) >= self.params.min_fix_len

    def _joinable(self, parts: list[str]) -> bool:
        return all(p.isalpha() and p not in self.protected for p in parts) and len("".join(parts)) >= 4

    def _candidate(self, word: str) -> bool:
        p = self.params
        return word in self.protected or self.model.zipf_of(word) >= p.min_candidate_zipf \
            or self.model.domain.get(word, 0) >= p.min_candidate_domain

    def _lookup(self, token: str) -> list[tuple[str, float]]:
        """Candidate words within edit distance 1 (2 for words of five letters or more), nearest first."""
        key = (token, astuple(self.params))
        found = self._lookups.get(key)
        if found is None:
            found = self._find_candidates(token)
            with self._lookups_lock:
                if self._lookups and len(self._lookups) >= LOOKUP_CACHE:
                    self._lookups.pop(next(iter(self._lookups)), None)
                self._lookups[key] = found
        return found

    def _find_candidates(self, token: str) -> list[tuple[str, float]]:
        from symspellpy import Verbosity

        distance = 1 if len(token) < 5 else self.params.max_edit
        items = self.symspell.lookup(token, Verbosity.ALL, max_edit_distance=distance)
        scored = sorted((weighted_distance(token, i.term), -self.model.zipf_of(i.term), i.term) for i in items
                        if i.term != token and self._candidate(i.term) and not self._inflection(token, i.term))
        return [(term, d) for d, _, term in scored[:self.params.candidates]]

    def _join_candidates(self, joined: str) -> list[tuple[str, float]]:
        """'micro wave' -> microwave; 'bath si k' -> sink (joined, then one letter added or changed)."""
        if self._candidate(joined):
            return [(joined, 0.0)]
        return [(c, d) for c, d in self._lookup(joined) if len(c) >= len(joined) and d <= 1.0][:4]

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
        if len(word) < 3:
            return self.model.zipf_of(word) >= 5.0
        return self._candidate(word)

    def _inflection(self, token: str, term: str) -> bool:
        """A word and its plural (screwdriver, screwdrivers; hydroponic, hydroponics): not a spelling error to fix.
        A token nobody writes ('wireles') may still lack its last letter."""
        unseen_missing_s = len(token) < len(term) and not self.model.zipf_of(token) and token not in self.model.domain
        return plural_pair(token, term) and not unseen_missing_s

    def _slip_into_learned(self, source: str, target: str, reason: str) -> bool:
        return reason == "spelling" and target in self.learned and len(target) >= len(source) \
            and one_slip(source, target)
