"""Chinese spelling correction: per-character candidates from pinyin homophones, fuzzy pinyin and an observed
confusion set, whole-word pinyin candidates, scored by a character trigram model plus a word-unigram
segmentation of the neighbourhood, and accepted only above a confidence threshold."""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from tools.spelling_zh_tables import CJK_RUN, RESOURCES, ZhTables, context_totals, fuzzy_variants

MAX_WORD = 4

# (position in the original text, source span, target span, reason, margin over the threshold)
FixTuple = tuple[int, str, str, str, float]


@dataclass(frozen=True)
class Candidate:
    """One possible edit of a run and the parts of its score."""

    pos: int
    target: str
    reason: str
    kind: str
    count: int
    lm: float
    seg: float
    attested: int


FEATURES = ("lm", "seg", "attested", "attested_new", "pair_count", "p_typed_given_meant", "p_meant_given_typed",
            "count", "freq_source", "freq_target", "run_length", "text_length", "word_source", "word_target",
            "run_start", "run_end", "confusion", "shape", "homophone", "fuzzy", "word", "word_lm", "word_seg",
            "word_gain", "confusion_lm", "shape_lm", "homophone_lm", "fuzzy_lm")
KINDS = ("confusion", "shape", "homophone", "fuzzy", "word")


SCORER_FILE = RESOURCES / "zh_scorer.json"


@functools.cache
def shipped_scorer() -> dict:
    """The fitted scorer weights shipped in tools/resources/zh_scorer.json (see scripts/tune_spelling_zh.py)."""
    return json.loads(SCORER_FILE.read_text(encoding="utf-8"))


def quadratic(matrix: np.ndarray) -> np.ndarray:
    """The scorer's inputs for rows of FEATURES: the features, then every product of two of them (i <= j)."""
    i, j = np.triu_indices(matrix.shape[1])
    return np.hstack([matrix, matrix[:, i] * matrix[:, j]])


@dataclass
class ZhParams:
    """Candidate generation settings and the weights of the scorer: log-odds that a candidate is the intended edit,
    a logistic regression over the FEATURES and their pairwise products (`quadratic`), fitted by
    scripts/tune_spelling_zh.py on the train and dev splits (never test; see eval/data/README.md). `weights` score
    queries, `sentence_weights` texts of `sentence_chars` characters or more (chat messages, reviews). Weights of
    plain FEATURES length (a linear scorer) are accepted too."""

    weights: tuple[float, ...] = field(default_factory=lambda: tuple(shipped_scorer()["query"]["weights"]))
    bias: float = field(default_factory=lambda: shipped_scorer()["query"]["bias"])
    sentence_weights: tuple[float, ...] = field(
        default_factory=lambda: tuple(shipped_scorer()["sentence"]["weights"]))
    sentence_bias: float = field(default_factory=lambda: shipped_scorer()["sentence"]["bias"])
    sentence_chars: int = 24
    threshold: float = 0.0
    discount: float = 1.5
    confusion_prior: float = -6.14
    homophone_prior: float = -7.32
    single_char_penalty: float = 4.0
    min_char_count: int = 3
    mixed_word_count: int = 50
    per_position: int = 6
    attested_skip: int = 40
    max_homophones: int = 60


class ZhScorer:
    """The character trigram model and the local word segmentation score."""

    INDEX = ("unigram_total", "word_total", "by_reading", "confusion", "word_by_pinyin", "contexts",
             "typed_total", "meant_total")

    def __init__(self, tables: ZhTables, params: ZhParams, index: dict | None = None):
        self.t = tables
        self.p = params
        if index:
            self.__dict__.update({name: index[name] for name in self.INDEX})
        else:
            self.refresh()

    def export_index(self) -> dict:
        """The derived indexes, so that a saved corrector loads without recomputing them."""
        return {name: getattr(self, name) for name in self.INDEX}

    def refresh(self) -> None:
        """Recompute totals and the pinyin indexes after the tables changed."""
        ngrams = self.t.ngrams
        self.unigram_total = sum(c for g, c in ngrams.items() if len(g) == 1 and g != "^") or 1
        self.contexts = context_totals(ngrams)
        self.word_total = sum(self.t.words.values()) or 1
        self.by_reading: dict[str, list[str]] = {}
        common = [(c, ch) for ch, c in ngrams.items() if len(ch) == 1 and c >= self.p.min_char_count]
        for _, ch in sorted(common, reverse=True):
            for reading in self.t.readings.get(ch, ()):
                self.by_reading.setdefault(reading, []).append(ch)
        self.confusion: dict[str, dict[str, tuple[str, int]]] = {}
        self.typed_total: dict[str, int] = {}
        self.meant_total: dict[str, int] = {}
        for wrong, rights in self.t.confusion.items():
            for right, count in rights.items():
                self.typed_total[wrong] = self.typed_total.get(wrong, 0) + count
                self.meant_total[right] = self.meant_total.get(right, 0) + count
                kind = "confusion" if self.reason(wrong, right) == "pinyin" else "shape"
                if kind == "confusion" or count >= 2:
                    self.confusion.setdefault(wrong, {})[right] = (kind, count)
        self.word_by_pinyin: dict[str, list[str]] = {}
        for word, tag in self.t.tags.items():
            if len(word) in (2, 3) and tag:
                for key in self._word_keys(word, options=1):
                    self.word_by_pinyin.setdefault(key, []).append(word)

    def reason(self, source: str, target: str) -> str:
        """'pinyin' when the characters share a reading or a fuzzy-pinyin variant of one, else 'shape'."""
        src = set(self.t.readings.get(source, ()))
        tgt = set(self.t.readings.get(target, ()))
        if src & tgt or {v for r in src for v in fuzzy_variants(r)} & tgt:
            return "pinyin"
        return "shape"

    def _word_keys(self, word: str, options: int = 2) -> list[str]:
        keys = [""]
        for ch in word:
            keys = [k + " " + r for k in keys for r in self.t.readings.get(ch, ())[:options]]
        return [k.strip() for k in keys[:4]]

    def cond_logp(self, a: str, b: str, c: str) -> float:
        """log P(c | a b): interpolated absolute discounting (Kneser-Ney style) trigram -> bigram -> add-half
        unigram; the discount goes to the lower order in proportion to the distinct continuations seen."""
        return math.log(self.cond_prob(a, b, c))

    def cond_prob(self, a: str, b: str, c: str) -> float:
        """P(c | a b), as `cond_logp` (a may be empty)."""
        get, d = self.t.ngrams.get, self.p.discount
        p = (get(c, 0) + 0.5) / (self.unigram_total + 10000.0)
        contexts = self.contexts
        ctx = contexts.get(b)
        if ctx:
            n = get(b + c, 0) - d
            p = ((n if n > 0 else 0) + d * ctx[1] * p) / ctx[0]
            ctx = contexts.get(a + b) if a else None
            if ctx:
                n = get(a + b + c, 0) - d
                p = ((n if n > 0 else 0) + d * ctx[1] * p) / ctx[0]
        return p

    def lm_window(self, padded: str, j: int, width: int = 1) -> float:
        """Sum of the log-probabilities of the trigram terms that involve padded[j:j + width]."""
        prob = 1.0
        for k in range(j, min(j + width + 2, len(padded))):
            prob *= self.cond_prob(padded[k - 2] if k >= 2 else "", padded[k - 1], padded[k])
        return math.log(prob)

    def unknown_char_logp(self, ch: str) -> float:
        """log P of a single character that is not a dictionary word: its character frequency, penalised."""
        chars = self.t.ngrams.get(ch, 0) + 0.5
        return math.log(chars / self.unigram_total) + math.log(0.05) - self.p.single_char_penalty

    def segment(self, text: str) -> float:
        """Best word-unigram log-probability of a segmentation of the text: a dictionary word scores
        log(count / total), a single character that is not one `unknown_char_logp`, other spans cannot be words."""
        words, log, total = self.t.words.get, math.log, self.word_total
        best = [0.0] + [-math.inf] * len(text)
        for end in range(1, len(text) + 1):
            top = -math.inf
            for start in range(max(0, end - MAX_WORD), end):
                count = words(text[start:end])
                if count:
                    lp = log(count / total)
                elif start == end - 1:
                    lp = self.unknown_char_logp(text[start])
                else:
                    continue
                if best[start] + lp > top:
                    top = best[start] + lp
            best[end] = top
        return best[-1]


class ChineseCorrector:
    """Corrects runs of Chinese characters; everything else in a query is left to other correctors."""

    def __init__(self, tables: ZhTables, params: ZhParams | None = None, index: dict | None = None):
        self.tables = tables
        self.params = params or ZhParams()
        self.scorer = ZhScorer(tables, self.params, index)
        self._arrays: dict[bool, tuple[tuple[float, ...], np.ndarray, np.ndarray | None]] = {}

    def refresh(self) -> None:
        """Rebuild indexes after terms or text were added."""
        self.scorer.refresh()

    def correct(self, text: str) -> tuple[list[FixTuple], float]:
        """Edits for every Chinese run of the text and the best rejected score (for confidence)."""
        fixes: list[FixTuple] = []
        near_miss = -math.inf
        for match in CJK_RUN.finditer(text):
            run_fixes, miss = self.correct_run(match.group(), len(text))
            # 't桖' -> 't恤', unless the first character is part of a protected term ('A华为' is not 'A级为') or
            # already corrected
            if 0 not in self._protected_terms(match.group()) and all(fix[0] > 0 for fix in run_fixes):
                run_fixes += self._mixed_word_fix(text, match.start())
            fixes.extend((pos + match.start(), src, tgt, why, m) for pos, src, tgt, why, m in run_fixes)
            near_miss = max(near_miss, miss)
        return fixes, near_miss

    def correct_run(self, run: str, text_length: int | None = None) -> tuple[list[FixTuple], float]:
        """The best non-overlapping edits of one run (of a text of `text_length` characters) whose score clears
        the threshold."""
        if len(run) < 2:
            return [], -math.inf
        threshold = self.params.threshold
        length = text_length or len(run)
        cands = self.features(run)
        if not cands:
            return [], -math.inf
        scores = self.score_all(np.array([self.feature_vector(run, c, length) for c in cands]), length)
        scored = sorted(zip(scores.tolist(), cands, strict=True), key=lambda sc: -sc[0])
        fixes: list[FixTuple] = []
        taken: set[int] = set()
        for score, cand in scored:
            if score < threshold:
                break
            span = set(range(cand.pos - 1, cand.pos + len(cand.target) + 1))
            if not taken & span:
                fixes.append((cand.pos, run[cand.pos:cand.pos + len(cand.target)], cand.target, cand.reason,
                              score - threshold))
                taken |= span
        near_miss = next((s - threshold for s, _ in scored if s < threshold), -math.inf)
        return sorted(fixes), near_miss

    def score(self, vector: tuple[float, ...], text_length: int = 0) -> float:
        """Log-odds that a candidate (as its feature vector) is the intended text, with the query or the sentence
        weights by the length of the text."""
        return float(self.score_all(np.array([vector], dtype=float), text_length)[0])

    def score_all(self, matrix: np.ndarray, text_length: int = 0) -> np.ndarray:
        """`score` for every row of a matrix of feature vectors."""
        linear, pairs, bias = self._weights(text_length >= self.params.sentence_chars)
        scores = matrix @ linear + bias
        if pairs is not None:  # the products' weights as an upper-triangular matrix: x·Px sums w_ij x_i x_j
            scores += ((matrix @ pairs) * matrix).sum(axis=1)
        return scores

    def _weights(self, sentence: bool) -> tuple[np.ndarray, np.ndarray | None, float]:
        p = self.params
        weights, bias = (p.sentence_weights, p.sentence_bias) if sentence else (p.weights, p.bias)
        cached = self._arrays.get(sentence)
        if cached is None or cached[0] is not weights:
            n = len(FEATURES)
            array = np.asarray(weights, dtype=float)
            pairs = None
            if len(array) > n:
                pairs = np.zeros((n, n))
                pairs[np.triu_indices(n)] = array[n:]
            cached = self._arrays[sentence] = (weights, array[:n], pairs)
        return cached[1], cached[2], bias

    def feature_vector(self, run: str, cand: Candidate, text_length: int) -> tuple[float, ...]:
        """The candidate's features, in the order of FEATURES."""
        g, sc = self.tables.ngrams, self.scorer
        i, target = cand.pos, cand.target
        source = run[i:i + len(target)]
        changed = run[:i] + target + run[i + len(target):]
        pair = self.tables.confusion.get(source, {}).get(target, 0) if len(target) == 1 else 0
        typed = pair / sc.typed_total[source] if pair else 0.0
        meant = pair / sc.meant_total[target] if pair else 0.0
        word_source = math.log1p(self._covering_word(run, i, len(target)))
        word_target = math.log1p(self._covering_word(changed, i, len(target)))
        # Whole-word candidates also get their own language-model and segmentation gains and the gain in word
        # frequency: both spans are real words there, so the shared evidence says less.
        word = cand.kind == "word"
        return (cand.lm, cand.seg, math.log1p(cand.attested), math.log1p(self._attested("^" + changed + "$", i + 1,
                                                                                          len(target))),
                math.log1p(pair), math.log(meant + 1e-4), math.log(typed + 1e-4), math.log1p(cand.count),
                math.log1p(g.get(source[0], 0)), math.log1p(g.get(target[0], 0)), math.log(len(run)),
                math.log(max(text_length, 1)), word_source, word_target, float(i == 0),
                float(i + len(target) == len(run)), *(float(cand.kind == k) for k in KINDS),
                cand.lm * word, cand.seg * word, (word_target - word_source) * word,
                *(cand.lm * (cand.kind == k) for k in KINDS[:4]))

    def _covering_word(self, run: str, i: int, width: int) -> int:
        """The highest count of a dictionary word (2-4 characters) that covers run[i:i + width]."""
        words, best = self.tables.words.get, 0
        for start in range(max(0, i - MAX_WORD + 1), i + 1):
            for end in range(max(i + width, start + 2), min(len(run), start + MAX_WORD) + 1):
                count = words(run[start:end], 0)
                if count > best:
                    best = count
        return best

    def _mixed_word_fix(self, text: str, start: int) -> list[FixTuple]:
        """A Latin-letter word such as 't恤' or 'u盘' typed with the wrong character (`t桖`)."""
        letters = re.search(r"(?<![a-z0-9])[a-z]{1,2}$", text[max(0, start - 3):start].lower())
        if not letters or start >= len(text):
            return []
        prefix, ch = letters.group(), text[start]
        words = self.tables.words
        if words.get(prefix + ch, 0) >= self.params.mixed_word_count:
            return []
        options = set(self.scorer.confusion.get(ch, {}))
        options.update(c for r in self.tables.readings.get(ch, ()) for c in self.scorer.by_reading.get(r, ()))
        best = max(((words.get(prefix + c, 0), c) for c in options), default=(0, ""))
        if best[0] < self.params.mixed_word_count:
            return []
        return [(0, ch, best[1], "pinyin", math.log(best[0] / self.params.mixed_word_count))]

    def _protected_positions(self, run: str) -> set[int]:
        """Positions inside protected terms, and characters outside the common simplified set."""
        common = self.tables.common
        return {i for i, ch in enumerate(run) if ch not in common} | self._protected_terms(run)

    def _protected_terms(self, run: str) -> set[int]:
        """Positions inside protected terms (2 to 12 characters)."""
        protected, locked = self.tables.protected, set[int]()
        for start in range(len(run)):
            for end in range(start + 2, min(len(run), start + 12) + 1):
                if run[start:end] in protected:
                    locked.update(range(start, end))
        return locked

    def features(self, run: str) -> list[Candidate]:
        """Every candidate edit of a run with its score components."""
        locked = self._protected_positions(run)
        padded = "^" + run + "$"
        out: list[Candidate] = []
        g, sure = self.tables.ngrams, self.params.attested_skip
        for i, ch in enumerate(run):
            if i not in locked and min(g.get(padded[i:i + 2], 0), g.get(padded[i + 1:i + 3], 0)) < sure:
                out.extend(self._char_candidates(run, padded, i, self._char_options(padded, i + 1, ch)))
        out.extend(self._word_candidates(run, locked))
        return out

    def _char_options(self, padded: str, j: int, ch: str) -> dict[str, tuple[str, int]]:
        """Replacements for padded[j]: kind ('confusion', 'shape', 'homophone', 'fuzzy') and observed count."""
        g, w = self.tables.ngrams, self.tables.words
        prev, nxt = padded[j - 1], padded[j + 1]
        options: dict[str, tuple[str, int]] = dict(self.scorer.confusion.get(ch, {}))
        readings = self.tables.readings.get(ch, ())
        fuzzy = {v for r in readings for v in fuzzy_variants(r)} - set(readings)
        cap = self.params.max_homophones
        for group, kind in ((readings, "homophone"), (fuzzy, "fuzzy")):
            for reading in group:
                for cand in self.scorer.by_reading.get(reading, ())[:cap]:
                    if cand != ch and cand not in options and (g.get(prev + cand) or g.get(cand + nxt)
                                                               or prev + cand in w or cand + nxt in w):
                        options[cand] = (kind, 0)
        options.pop(ch, None)
        return options

    def _attested(self, padded: str, j: int, width: int) -> int:
        """The weakest count among the bigrams the original span forms with its neighbours."""
        g = self.tables.ngrams
        return min(g.get(padded[k:k + 2], 0) for k in range(j - 1, j + width))

    def _char_candidates(self, run: str, padded: str, i: int, options: dict[str, tuple[str, int]]):
        if not options:
            return []
        p = self.params
        base = self.scorer.lm_window(padded, i + 1)
        ranked = []
        for cand, (kind, count) in options.items():
            lm = self.scorer.lm_window(padded[:i + 1] + cand + padded[i + 2:], i + 1) - base
            ranked.append((lm + (p.confusion_prior if count else p.homophone_prior), lm, cand, kind, count))
        ranked.sort(reverse=True)
        lo, hi = max(0, i - MAX_WORD + 1), min(len(run), i + MAX_WORD)
        seg_base = self.scorer.segment(run[lo:hi])
        attested = self._attested(padded, i + 1, 1)
        out = []
        for _, lm, cand, kind, count in ranked[:p.per_position]:
            seg = self.scorer.segment(run[lo:i] + cand + run[i + 1:hi]) - seg_base
            reason = "shape" if kind == "shape" else "pinyin"
            out.append(Candidate(i, cand, reason, kind, count, lm, seg, attested))
        return out

    def _word_candidates(self, run: str, locked: set[int]) -> list[Candidate]:
        """Whole words typed with the right pinyin but the wrong characters (two or three changed)."""
        out = []
        padded = "^" + run + "$"
        for size in (2, 3):
            for i in range(len(run) - size + 1):
                span = run[i:i + size]
                if locked.intersection(range(i, i + size)):
                    continue
                for key in self.scorer._word_keys(span):
                    for word in self.scorer.word_by_pinyin.get(key, ()):
                        if sum(a != b for a, b in zip(word, span, strict=True)) >= 2:
                            lm, seg = self._word_gain(run, i, word)
                            out.append(Candidate(i, word, "pinyin", "word", 0, lm, seg,
                                                 self._attested(padded, i + 1, size)))
        return out

    def _word_gain(self, run: str, i: int, word: str) -> tuple[float, float]:
        changed = run[:i] + word + run[i + len(word):]
        size = len(word)
        lm = self.scorer.lm_window("^" + changed + "$", i + 1, size) - self.scorer.lm_window("^" + run + "$", i + 1, size)
        lo, hi = max(0, i - MAX_WORD + 1), min(len(run), i + len(word) + MAX_WORD - 1)
        return lm, self.scorer.segment(changed[lo:hi]) - self.scorer.segment(run[lo:hi])
