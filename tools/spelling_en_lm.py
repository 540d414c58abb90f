"""What the English corrector knows about words: general English frequencies (wordfreq's large list and
symspellpy's word and bigram counts) beside the shop's own text (catalog titles, query logs), a word-bigram
language model over both, and the calibrated scorer that turns the candidate edits at one token into probabilities
that each is right (a small network fitted by `scripts/tune_spelling_en.py`, shipped in `resources/en_scorer.json`)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from editdistpy import levenshtein

from tools.package_files import package_path

WORD = re.compile(r"[a-z]+")
SCORER_FILE = package_path("tools", "resources", "en_scorer.json")
MIN_ZIPF = 1.0
FLOOR_LOGP = math.log(1e-10)
DOMAIN_MIX = 0.8
DOMAIN_LAMBDA = 0.6
GENERAL_LAMBDA = 0.1
KNOWN_ZIPF = 2.5
KNOWN_DOMAIN = 3

FEATURES = ("bias", "channel", "lm_gain", "src_zipf", "dst_zipf", "src_unseen", "src_domain", "dst_domain",
            "src_known", "src_plural", "src_len", "first_same", "is_split", "is_join", "gain_if_known", "sound_distance",
            "same_sound", "src_letters", "dst_letters", "letters_gain", "rival_gap", "is_top", "rivals")
CHAR_MODEL_ZIPF = 2.0
CHAR_MIX = (0.7, 0.29, 0.01 / 27)
RIVAL_CHANNEL = 3.0
RIVAL_SHAPE = 2.0
SOUND_RULES = tuple((re.compile(a), b) for a, b in (
    ("ph", "f"), ("ck", "k"), ("sch", "sk"), ("tch", "ch"), ("gh", ""), ("wr", "r"), ("kn", "n"), ("qu", "kw"),
    ("q", "k"), ("x", "ks"), ("z", "s"), ("c(?=[eiy])", "s"), ("c", "k"), ("dg", "j"), ("mb$", "m"),
    ("(?<=[^aeiou])h", ""), ("y", "i"), ("w(?![aeiou])", "")))
MAX_SOUND_DISTANCE = 3.0


def general_zipf() -> dict[str, float]:
    """wordfreq's large English list as word -> Zipf frequency (log10 of uses per billion words), alphabetic
    words only; names and brands that people write about (dewalt, spanx, boho) are in it, most typos are not."""
    import wordfreq

    out = {}
    for word, freq in wordfreq.get_frequency_dict("en", wordlist="large").items():
        if word.isascii() and word.isalpha():
            zipf = round(math.log10(freq) + 9, 2)
            if zipf >= MIN_ZIPF:
                out[word] = zipf
    return out


class LetterModel:
    """How English a string of letters looks: a letter-trigram model (interpolated with letter bigrams) over the
    distinct words of general English. Typos often hold sequences words do not ("hoovwe", "beltsr", "filtm"); brands
    and rare real words mostly do not."""

    def __init__(self, words: Iterable[str]):
        self.trigrams: Counter = Counter()
        self.contexts: Counter = Counter()
        self.bigrams: Counter = Counter()
        self.letters: Counter = Counter()
        for word in words:
            padded = "^^" + word + "$"
            for i in range(2, len(padded)):
                self.trigrams[padded[i - 2:i + 1]] += 1
                self.contexts[padded[i - 2:i]] += 1
                self.bigrams[padded[i - 1:i + 1]] += 1
                self.letters[padded[i - 1]] += 1

    def mean_logp(self, text: str) -> float:
        """The mean log-probability per letter (and end of word) of a string."""
        padded = "^^" + text + "$"
        tri, bi, floor = CHAR_MIX
        total = 0.0
        for i in range(2, len(padded)):
            context, letter = self.contexts.get(padded[i - 2:i], 0), self.letters.get(padded[i - 1], 0)
            p = floor
            if context:
                p += tri * self.trigrams.get(padded[i - 2:i + 1], 0) / context
            if letter:
                p += bi * self.bigrams.get(padded[i - 1:i + 1], 0) / letter
            total += math.log(p)
        return total / (len(padded) - 2)


class WordModel:
    """Unigram and bigram statistics: general English and the shop's own text, mixed into one bigram LM."""

    def __init__(self, zipf: dict[str, float], general_counts: dict[str, int], general_bigrams: dict[str, int],
                 domain: Counter | None = None, domain_bigrams: Counter | None = None):
        self.zipf = zipf
        self.general_counts = general_counts
        self.general_bigrams = general_bigrams
        self.domain = domain if domain is not None else Counter()
        self.domain_bigrams = domain_bigrams if domain_bigrams is not None else Counter()
        self.general_total = float(sum(general_counts.values())) or 1.0
        self.domain_total = float(sum(self.domain.values())) or 1.0
        self.letter_model = LetterModel(w for w, z in zipf.items() if z >= CHAR_MODEL_ZIPF)

    def add_text(self, texts: Iterable[str], weight: int = 1) -> None:
        """Count the words and word pairs of catalog titles or queries."""
        for text in texts:
            words = WORD.findall(text.lower())
            for word in words:
                self.domain[word] += weight
            for a, b in zip(words, words[1:], strict=False):
                self.domain_bigrams[a + " " + b] += weight
        self.domain_total = float(sum(self.domain.values())) or 1.0

    def zipf_of(self, word: str) -> float:
        """Zipf frequency in general English (0 when unseen)."""
        return self.zipf.get(word, 0.0)

    def is_known(self, word: str) -> bool:
        """A real word: common enough in general English or seen a few times in the shop's own text."""
        return self.zipf.get(word, 0.0) >= KNOWN_ZIPF or self.domain.get(word, 0) >= KNOWN_DOMAIN

    def unigram(self, word: str) -> float:
        """P(word): the shop's text mixed with general English."""
        zipf = self.zipf.get(word)
        general = 10 ** (zipf - 9) if zipf else self.general_counts.get(word, 0) / self.general_total
        return DOMAIN_MIX * self.domain.get(word, 0) / self.domain_total + (1 - DOMAIN_MIX) * general

    def logp(self, word: str, left: str | None) -> float:
        """log P(word | left word), the bigram estimates interpolated with the unigram."""
        rest, p = 1.0, 0.0
        if left:
            left_domain = self.domain.get(left, 0)
            if left_domain:
                p += DOMAIN_LAMBDA * self.domain_bigrams.get(left + " " + word, 0) / left_domain
                rest -= DOMAIN_LAMBDA
            left_general = self.general_counts.get(left, 0)
            if left_general:
                p += GENERAL_LAMBDA * min(1.0, self.general_bigrams.get(left + " " + word, 0) / left_general)
                rest -= GENERAL_LAMBDA
        p += rest * self.unigram(word)
        return math.log(p) if p > 0 else FLOOR_LOGP

    def run_logp(self, words: list[str], left: str | None, right: str | None) -> float:
        """log-probability of a run of words between a left and a right neighbour."""
        total, prev = 0.0, left
        for word in words:
            total += max(FLOOR_LOGP, self.logp(word, prev))
            prev = word
        if right:
            total += self.logp(right, prev) - self.logp(right, None)
        return total

    def is_plural_of_known(self, word: str) -> bool:
        """'leds', 'mens', 'boxes': a known word with a plural or possessive s."""
        for cut in ("es", "s"):
            if word.endswith(cut) and len(word) > len(cut) + 1 and self.is_known(word[:-len(cut)]):
                return True
        return False


def sound_key(word: str) -> str:
    """A rough English sound-alike key: spelling variants of one sound merged, doubled letters and inner vowels
    dropped (verticle and vertical, clorine and chlorine, saftey and safety share one)."""
    key = word.lower()
    for pattern, replacement in SOUND_RULES:
        key = pattern.sub(replacement, key)
    key = re.sub(r"(.)\1+", r"\1", key)
    head = "a" if key[:1] in "aeiou" and key else key[:1]
    return head + re.sub("[aeiou]+", "", key[1:])


class Typed(NamedTuple):
    """What every candidate rewrite of one span of typed tokens compares itself with (computed once per span)."""

    words: list[str]
    zipf: float
    domain: float
    known: float
    plural: float
    text: str
    sound: str
    letters: float
    logp: float


def typed_side(model: WordModel, source: list[str], left: str | None, right: str | None) -> Typed:
    """The typed tokens' statistics, shared by all of their candidates."""
    text = "".join(source)
    return Typed(source, min(model.zipf_of(w) for w in source), min(math.log1p(model.domain.get(w, 0)) for w in source),
                 float(len(source) == 1 and model.is_known(source[0])),
                 float(len(source) == 1 and model.is_plural_of_known(source[0])), text, sound_key(text),
                 model.letter_model.mean_logp(text), model.run_logp(source, left, right))


def features(model: WordModel, typed: Typed, target: list[str], distance: float, lm_gain: float) -> list[float]:
    """The scorer's feature vector for changing the `typed` tokens into the `target` words."""
    dst_zipf = min(model.zipf_of(w) for w in target)
    dst_domain = min(math.log1p(model.domain.get(w, 0)) for w in target)
    written = "".join(target)
    meant = sound_key(written)
    sound = _sound_distance(typed.sound, meant)
    written_letters = model.letter_model.mean_logp(written)
    source = typed.words
    return [1.0, distance, lm_gain, typed.zipf, dst_zipf, float(typed.zipf == 0.0), typed.domain, dst_domain,
            typed.known, typed.plural, min(len(typed.text), 12) / 10, float(typed.text[:1] == target[0][:1]),
            float(len(target) > len(source)), float(len(source) > len(target)), lm_gain * typed.known, sound,
            float(typed.sound == meant), typed.letters, written_letters, written_letters - typed.letters]


def _sound_distance(a: str, b: str) -> float:
    """Plain edit distance between two sound keys (editdistpy's compiled Levenshtein), capped at
    MAX_SOUND_DISTANCE."""
    distance = levenshtein.distance(a, b, int(MAX_SOUND_DISTANCE))
    return MAX_SOUND_DISTANCE if distance < 0 else float(distance)


def with_rivals(options: list) -> list:
    """Add what each candidate's rivals at the same token look like: how far its plain score (LM gain minus
    weighted distance) is ahead of the best other one, whether it is the best, and how many there are."""
    base = [o.vector[2] - RIVAL_CHANNEL * o.vector[1] - RIVAL_SHAPE * (o.vector[12] + o.vector[13]) for o in options]
    out = []
    for k, option in enumerate(options):
        others = max((b for j, b in enumerate(base) if j != k), default=base[k] - 10)
        gap = max(-10.0, min(10.0, base[k] - others))
        out.append(option._replace(vector=[*option.vector, gap, float(gap > 0), len(options) ** 0.5]))
    return out


class EditScorer:
    """Scores the candidate rewrites at one token against leaving it as typed, and turns the scores into
    probabilities: a softmax over the candidates and the typed token (whose score is 0). Each candidate's score is a
    one-hidden-layer network of its standardised features, so a token nobody writes can hand its weight to its best
    candidate while a rare real word keeps most of it."""

    def __init__(self, data: dict):
        self.data = data
        self.mean = np.asarray(data["mean"], dtype=np.float64)
        self.scale = np.asarray(data["scale"], dtype=np.float64)
        self.hidden = np.asarray(data["hidden"], dtype=np.float64)
        self.hidden_bias = np.asarray(data["hidden_bias"], dtype=np.float64)
        self.out = np.asarray(data["out"], dtype=np.float64)
        self.out_bias = float(data["out_bias"])
        if self.hidden.shape != (len(self.hidden_bias), len(FEATURES) - 1) or self.out.shape != self.hidden_bias.shape:
            raise ValueError(f"scorer shapes {self.hidden.shape} do not fit {len(FEATURES) - 1} features")

    @property
    def threshold(self) -> float:
        """The default probability an edit needs before it is made."""
        return float(self.data["threshold"])

    def scores(self, vectors: list[list[float]]) -> np.ndarray:
        """The score of each candidate (feature vectors with the bias first); the typed token scores 0."""
        x = (np.asarray(vectors, dtype=np.float64)[:, 1:] - self.mean) / self.scale
        return np.tanh(x @ self.hidden.T + self.hidden_bias) @ self.out + self.out_bias

    def probabilities(self, vectors: list[list[float]]) -> list[float]:
        """The probability that each candidate is the right rewrite of its token (the rest is the probability
        that the token was typed right)."""
        if not vectors:
            return []
        scores = self.scores(vectors)
        top = max(0.0, float(scores.max()))
        weights = np.exp(scores - top)
        return (weights / (weights.sum() + math.exp(-top))).tolist()


@lru_cache(maxsize=4)
def shipped_scorer(path: Path = SCORER_FILE) -> EditScorer:
    """The edit scorer and its default threshold as fitted by scripts/tune_spelling_en.py."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("features") != list(FEATURES):
        raise ValueError(f"{path}: fitted on features {data.get('features')}, the code has {list(FEATURES)}")
    return EditScorer(data)
