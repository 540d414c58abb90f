"""The spell corrector for shopper queries (Chinese, English, mixed): a typed result with every edit and a
confidence, learning from the catalog and query logs, fast save/load, and the `correct_spelling` LangChain tool.

English is handled by `tools.spelling_en`, Chinese by `tools.spelling_zh`; this module splits the query between
them, merges their edits and owns persistence."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import marshal
import math
import pickle
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from tools.core.types import Product
from tools.hanzi import to_simplified
from tools.spelling_en import EnglishCorrector, EnParams, general_bigram_counts, general_word_counts
from tools.spelling_zh import ChineseCorrector, ZhParams
from tools.spelling_zh_tables import CJK_RUN, RESOURCES, ZhTables

FORMAT_VERSION = 8
MAX_QUERY_CHARS = 512
MIN_LOG_COUNT = 3
TERMS_FILE = "spelling_terms.json"
TAUGHT_KEYS = ("terms", "protected", "query_logs")


class Edit(BaseModel):
    """One change made to the query."""

    source: str = Field(description="the text as typed")
    target: str = Field(description="what it was changed to")
    position: int = Field(ge=0, description="character offset of `source` in the query (as normalised)")
    reason: str = Field(description="spelling | segmentation | join | pinyin | shape")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0,
                              description="how likely this edit is right (English: a calibrated probability)")


class CorrectedQuery(BaseModel):
    """The corrector's answer: the query before and after, each edit, and how sure the corrector is (0..1)."""

    original: str
    normalized: str | None = Field(default=None, description="the query with traditional Chinese characters made "
                                   "simplified, when that changed it: a normalisation, not an edit")
    corrected: str
    edits: list[Edit] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    note: str | None = Field(default=None, description="why the query was left unchecked, if it was")

    @property
    def changed(self) -> bool:
        """True when the corrected query differs from the original."""
        return self.corrected != self.original


class Corrector(Protocol):
    """What the tool and the eval suite need from a spell corrector."""

    def correct(self, query: str) -> CorrectedQuery: ...


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def read_query_log(path: Path) -> Iterator[str]:
    """Queries of a log file: JSONL with a "query" field, `id<TAB>query` lines, or one query per line."""
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    query = json.loads(line).get("query", "")
                except (json.JSONDecodeError, AttributeError):
                    continue
            else:
                query = line.split("\t")[-1]
            if isinstance(query, str) and query.strip():
                yield query.strip()


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while large dictionaries are built or unpickled (much faster)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SpellCorrector:
    """Corrects shopper queries; protected terms (brands, catalog words, model numbers) are never changed."""

    def __init__(self, english: EnglishCorrector, chinese: ChineseCorrector, fingerprint: str = ""):
        self.english = english
        self.chinese = chinese
        self.fingerprint = fingerprint

    # -- building -------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, products: Iterable[Product] = (), query_log_paths: Iterable[Path] = (), *,
              en_params: EnParams | None = None, zh_params: ZhParams | None = None,
              resources: Path = RESOURCES, fingerprint: str = "") -> SpellCorrector:
        """Build the dictionaries from the bundled resources, a catalog and query logs (several seconds)."""
        with _no_gc():
            english = EnglishCorrector.build(general_word_counts(), general_bigram_counts(), en_params)
            chinese = ChineseCorrector(ZhTables.from_resources(resources), zh_params)
            corrector = cls(english, chinese, fingerprint)
            corrector.learn_catalog(products, refresh=False)
            for path in query_log_paths:
                corrector.learn_queries(read_query_log(path), refresh=False)
            corrector.refresh()
        return corrector

    def learn_catalog(self, products: Iterable[Product], refresh: bool = True) -> None:
        """Add catalog vocabulary: titles and categories as known words, brands as protected terms."""
        titles, brands, categories = [], set(), set()
        for product in products:
            titles.append(product.title)
            if product.brand:
                brands.add(product.brand)
            if product.category:
                categories.add(product.category)
        self.english.add_terms([*titles, *categories])
        self.english.add_terms(sorted(brands), protected=True)
        self.chinese.tables.add_text([*titles, *categories], weight=2)
        self.chinese.tables.add_words(sorted(categories), count=500)
        self.chinese.tables.add_words(sorted(brands), count=500, protected=True)
        if refresh:
            self.refresh()

    def learn_queries(self, queries: Iterable[str], refresh: bool = True) -> None:
        """Add a query log: English words seen in at least MIN_LOG_COUNT queries become known (rarer ones may be
        typos), and its Chinese text feeds the n-gram counts."""
        batch = list(queries)
        self.english.learn_queries(batch, MIN_LOG_COUNT)
        self.chinese.tables.add_text(batch, weight=2)
        if refresh:
            self.refresh()

    def add_terms(self, terms: Iterable[str], protected: bool = False) -> int:
        """Teach new terms (brands, product names) in either language; protected ones are never changed."""
        terms = [t for t in terms if isinstance(t, str) and t.strip()]
        taken = len(self.english.add_terms(terms, protected=protected))
        taken += len(self.chinese.tables.add_words(terms, count=1000, protected=protected))
        self.refresh()
        return taken

    def refresh(self) -> None:
        """Recompute totals and indexes after the dictionaries changed."""
        self.chinese.refresh()

    def clear_cache(self) -> None:
        """Forget the English words' cached candidates (benchmarks time queries as new ones)."""
        self.english.clear_cache()

    # -- correcting -----------------------------------------------------------------------------------------------
    def correct(self, query: str) -> CorrectedQuery:
        """Correct one query; input that cannot be checked is returned unchanged with a note."""
        if isinstance(query, bytes):
            query = query.decode("utf-8", errors="replace")
        if not isinstance(query, str):
            query = str(query)
        if not query.strip():
            return CorrectedQuery(original=query, corrected=query, confidence=1.0, note="empty query")
        if len(query) > MAX_QUERY_CHARS:
            return CorrectedQuery(original=query, corrected=query, confidence=0.5,
                                  note=f"longer than {MAX_QUERY_CHARS} characters: not checked")
        text = _simplified(query)
        en_fixes, en_miss = self.english.correct(text, mixed=CJK_RUN.search(text) is not None)
        # The Chinese runs are scored in the text as the English edits leave it, so that correcting the output
        # again finds the same context (its length picks the query or the sentence weights) and changes nothing.
        zh_fixes, zh_miss = self.chinese.correct(_apply(text, en_fixes))
        zh_fixes = [(*f[:4], round(_sigmoid(f[4] / 2 + 1), 4)) for f in _shift_back(zh_fixes, en_fixes)]
        fixes = sorted(en_fixes + zh_fixes)
        edits = [Edit(source=f[1], target=f[2], position=f[0], reason=f[3], confidence=f[4]) for f in fixes]
        return CorrectedQuery(original=query, normalized=text if text != query else None,
                              corrected=_apply(text, fixes), edits=edits,
                              confidence=_confidence(fixes, en_miss, zh_miss))

    # -- persistence ----------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the dictionaries to a directory (atomically: a temporary directory renamed into place)."""
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.english.symspell.save_pickle(str(tmp / "en_symspell.pkl"), compressed=False)
        en_state = {"model": self.english.model, "protected": self.english.protected,
                    "params": self.english.params, "learned": self.english.learned}
        with (tmp / "en_state.pkl").open("wb") as fh:
            pickle.dump(en_state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        zh_state = {"tables": dataclasses.asdict(self.chinese.tables),
                    "params": dataclasses.asdict(self.chinese.params), "index": self.chinese.scorer.export_index()}
        (tmp / "zh_state.marshal").write_bytes(marshal.dumps(zh_state))
        manifest = {"version": FORMAT_VERSION, "fingerprint": self.fingerprint}
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> SpellCorrector:
        """Read dictionaries written by `save` (files this program wrote itself; never load untrusted ones)."""
        from symspellpy import SymSpell

        directory = Path(directory)
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("version") != FORMAT_VERSION:
            raise ValueError(f"{directory}: spelling dictionaries of format {manifest.get('version')}, "
                             f"expected {FORMAT_VERSION}")
        with _no_gc():
            symspell = SymSpell()
            symspell.load_pickle(str(directory / "en_symspell.pkl"), compressed=False)
            en_state = _unpickle(directory / "en_state.pkl")
            zh_state = marshal.loads((directory / "zh_state.marshal").read_bytes())
            english = EnglishCorrector(symspell, en_state["model"], en_state["protected"], en_state["params"],
                                       en_state["learned"])
            chinese = ChineseCorrector(ZhTables(**zh_state["tables"]), ZhParams(**zh_state["params"]),
                                       zh_state["index"])
        return cls(english, chinese, manifest.get("fingerprint", ""))


def _simplified(text: str) -> str:
    """Traditional Chinese characters made simplified; text the converter cannot take (lone surrogates) as is."""
    try:
        return to_simplified(text)
    except UnicodeError:
        return text


def _unpickle(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - our own cache files


def _apply(text: str, fixes: list[tuple[int, str, str, str, float]]) -> str:
    """Splice the edits into the text (right to left, so earlier positions stay valid)."""
    for position, source, target, _, _ in sorted(fixes, reverse=True):
        text = text[:position] + target + text[position + len(source):]
    return text


def _shift_back(fixes: list[tuple[int, str, str, str, float]],
                before: list[tuple[int, str, str, str, float]]) -> list[tuple[int, str, str, str, float]]:
    """Positions of `fixes`, found in the text with the `before` edits applied, moved back to the original text.
    The two sets never overlap: one edits Latin words, the other Chinese characters."""
    starts, shift = [], 0
    for position, source, target, _, _ in sorted(before):
        starts.append((position + shift + len(target), len(target) - len(source)))
        shift += len(target) - len(source)
    out: list[tuple[int, str, str, str, float]] = []
    for position, source, target, reason, confidence in fixes:
        moved = sum(delta for end, delta in starts if end <= position)
        out.append((position - moved, source, target, reason, confidence))
    return out


def _confidence(fixes: list[tuple[int, str, str, str, float]], en_miss: float, zh_miss: float) -> float:
    """How sure the corrector is of its output: the weakest edit's confidence, or else how far the nearest
    rejected edit was from being made (English: its probability; Chinese: its margin)."""
    if fixes:
        return round(min(f[4] for f in fixes), 4)
    zh = 1.0 if zh_miss == -math.inf else 1.0 - _sigmoid(zh_miss / 2 - 1)
    return round(min(1.0 - en_miss, zh), 4)


def catalog_fingerprint(products: Iterable[Product]) -> str:
    """A digest of what the corrector learns from a catalog, plus the bundled resources and code format."""
    digest = hashlib.sha256(f"spelling-v{FORMAT_VERSION}:{EnParams()}:{ZhParams()}".encode())
    for path in sorted(RESOURCES.glob("zh_*")):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    for product in sorted(products, key=lambda p: p.id):
        digest.update("\x1f".join((product.id, product.title, product.brand or "",
                                   product.category or "")).encode("utf-8"))
    return digest.hexdigest()[:16]


def load_taught_terms(data_dir: Path) -> dict[str, list[str]]:
    """What was taught with `remember_terms` / `remember_query_logs` (DATA_DIR/spelling_terms.json), so that
    every rebuild keeps it: {"terms": [...], "protected": [...], "query_logs": [paths]}."""
    path = Path(data_dir) / TERMS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {key: [str(t) for t in saved.get(key, [])] for key in TAUGHT_KEYS}
    except (OSError, ValueError, AttributeError):
        return {key: [] for key in TAUGHT_KEYS}


def _remember(data_dir: Path, key: str, values: Iterable[str]) -> Path:
    saved = load_taught_terms(data_dir)
    saved[key] = sorted(set(saved[key]) | {v.strip() for v in values if v.strip()})
    path = Path(data_dir) / TERMS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def remember_terms(data_dir: Path, terms: Iterable[str], protected: bool = False) -> Path:
    """Record new terms (brands, product names) for the default corrector; it picks them up on its next build."""
    return _remember(data_dir, "protected" if protected else "terms", terms)


def remember_query_logs(data_dir: Path, paths: Iterable[Path]) -> Path:
    """Record query-log files for the default corrector to learn from on every build."""
    return _remember(data_dir, "query_logs", (str(Path(p).resolve()) for p in paths))


def build_default_corrector(products: list[Product], data_dir: Path, query_log_paths: Iterable[Path] | None = None,
                            force: bool = False) -> SpellCorrector:
    """The corrector for a catalog, plus query logs (given, or else the remembered ones) and taught terms; cached
    in DATA_DIR/spelling and rebuilt when any of them changes or when `force` is set."""
    taught = load_taught_terms(data_dir)
    if query_log_paths is None:
        query_log_paths = [Path(p) for p in taught["query_logs"] if Path(p).is_file()]
    logs = list(query_log_paths)
    parts = [catalog_fingerprint(products), json.dumps(taught, sort_keys=True)]
    parts += [f"{path}:{Path(path).stat().st_size}:{Path(path).stat().st_mtime_ns}" for path in logs]
    fingerprint = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
    cache = Path(data_dir) / "spelling"
    if not force:
        try:
            corrector = SpellCorrector.load(cache)
            if corrector.fingerprint == fingerprint:
                return corrector
        except (OSError, ValueError, KeyError, TypeError, EOFError, pickle.UnpicklingError):
            pass
    corrector = SpellCorrector.build(products, logs, fingerprint=fingerprint)
    for key, protected in (("terms", False), ("protected", True)):
        if taught[key]:
            corrector.add_terms(taught[key], protected=protected)
    corrector.save(cache)
    return corrector


class SpellingInput(BaseModel):
    """Arguments of the correct_spelling tool."""

    query: str = Field(description="the shopper's query exactly as typed (Chinese, English or mixed)")


def make_spelling_tool(corrector: Corrector):
    """The correct_spelling LangChain tool bound to a corrector (schema derived from SpellingInput)."""
    from langchain_core.tools import StructuredTool

    def run(query: str) -> tuple[dict[str, Any], CorrectedQuery]:
        result = corrector.correct(query)
        return result.model_dump(), result

    return StructuredTool.from_function(
        func=run, name="correct_spelling", args_schema=SpellingInput, response_format="content_and_artifact",
        description="Fix typos in a shopping query (English misspellings, run-together or split words; Chinese "
                    "pinyin and look-alike character errors). Brands, model numbers and sizes are kept. Returns "
                    "the corrected query, each edit and a confidence from 0 to 1.",
    )
