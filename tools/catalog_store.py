"""The catalog store: a chromadb collection (vectors, metadata, the full product) plus an on-disk lexical index
(BM25 over Chinese characters and words) and product columns, rebuilt from chromadb without re-embedding."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tools.catalog_degraded import (
    SQLITE_FILE,
    DegradedMode,
    GuardedCollection,
    IndexVectors,
    file_problem,
    forget_failed_system,
    indexed_count,
)
from tools.chroma_embedding import embedding_function_for
from tools.colors import canonical_color, color_in_title
from tools.core.errors import CatalogError
from tools.core.models import Embedder
from tools.core.types import Product
from tools.product_kind import default_lexicon
from tools.text import add_words, has_cjk, index_tokens, normalize, tokenize

Int8Queries = Literal["off", "latin", "all"]  # which queries the int8 encoder embeds

INDEX_VERSION = 2
BATCH = 256
QUERY_CACHE = 1024


@dataclass
class UpsertReport:
    """How many products an ingest added, changed or found unchanged."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0


def content_hash(product: Product) -> str:
    """A stable hash of everything stored for a product (decides whether it needs re-embedding)."""
    return hashlib.sha1(product.model_dump_json().encode("utf-8")).hexdigest()[:16]


def _metadata(product: Product) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "product": product.model_dump_json(),
        "hash": content_hash(product),
        "brand": normalize(product.brand or ""),
        "category": normalize(product.category or ""),
        "color": normalize(product.color or ""),
    }
    if product.price is not None:
        meta["price"] = float(product.price)
    return meta


class LexicalIndex:
    """BM25 plus columnar product fields, aligned by row; saved beside the chromadb store."""

    def __init__(self, products: list[Product], vectors: np.ndarray, retriever: Any):
        self.products = products
        self.vectors = vectors
        self.retriever = retriever
        self.row_of = {p.id: i for i, p in enumerate(products)}
        self.price = np.array([np.nan if p.price is None else p.price for p in products], dtype=np.float64)
        self.brand = np.array([normalize(p.brand or "") for p in products], dtype=object)
        self.category = np.array([normalize(p.category or "") for p in products], dtype=object)
        self.color = np.array([canonical_color(p.color) or color_in_title(p.title) for p in products], dtype=object)
        self.title = np.array([normalize(p.title) for p in products], dtype=str)
        self.category_names = sorted(set(self.category.tolist()))
        self.category_cache: dict[frozenset[str], np.ndarray] = {}
        self.currency = np.array([(p.currency or "").upper() for p in products], dtype=object)
        self.kind = np.array([product_kind(p) or "" for p in products], dtype=object)

    @cached_property
    def title_tokens(self) -> list[set[str]]:
        """Each product's title tokens (brand included), for how much of a query a title covers."""
        return [set(tokenize(f"{p.title} {p.brand or ''}")) for p in self.products]

    @classmethod
    def build(cls, products: list[Product], vectors: np.ndarray) -> LexicalIndex:
        """Tokenise every product and build the BM25 index."""
        import bm25s

        teach_segmenter(products)
        corpus = [index_tokens(p.search_text()) or ["_"] for p in products]
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        if corpus:
            retriever.index(corpus, show_progress=False)
        return cls(products, vectors, retriever)

    def save(self, directory: Path, fingerprint: dict[str, Any]) -> None:
        """Write the index atomically (a temp dir renamed into place)."""
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.products:
            self.retriever.save(str(tmp / "bm25"), show_progress=False)
        np.save(tmp / "vectors.npy", self.vectors)
        with (tmp / "products.jsonl").open("w", encoding="utf-8") as fh:
            for p in self.products:
                fh.write(p.model_dump_json() + "\n")
        (tmp / "manifest.json").write_text(json.dumps({"version": INDEX_VERSION, **fingerprint}))
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> tuple[LexicalIndex, dict[str, Any]]:
        """Read an index written by `save`."""
        import bm25s

        manifest = json.loads((directory / "manifest.json").read_text())
        with (directory / "products.jsonl").open(encoding="utf-8") as fh:
            products = [Product.model_validate_json(line) for line in fh]
        vectors = np.load(directory / "vectors.npy")
        teach_segmenter(products)
        retriever = bm25s.BM25.load(str(directory / "bm25"), show_progress=False) if products else None
        return cls(products, vectors, retriever), manifest


def product_kind(product: Product) -> str | None:
    """The product's kind: read from its category when that names a known kind, else from its title."""
    lexicon = default_lexicon()
    if product.category:
        return lexicon.kind_of(product.category) or lexicon.kind_of(product.title) or normalize(product.category)
    return lexicon.kind_of(product.title)


def teach_segmenter(products: Iterable[Product]) -> None:
    """Add the catalog's Chinese brand and category names to the segmenter."""
    words: set[str] = set()
    for p in products:
        words.update(w for w in (p.brand, p.category) if w)
    add_words(sorted(words))


class CatalogStore(DegradedMode):
    """Products in chromadb (source of truth) with a derived lexical index for BM25 and filters.

    Degraded mode: when chromadb cannot be opened or read (its files deleted or corrupt, the server down) and the
    on-disk index holds products, searches are served from that index alone (BM25, and exact nearest neighbours
    over the index's copy of the vectors); writes are refused with a CatalogError. `vector_error` says why. The
    store tries chromadb again every `retry_s` seconds and leaves degraded mode by itself once it is restored or
    re-ingested."""

    def __init__(self, directory: Path, embedder: Embedder, collection: str = "products",
                 chroma_url: str | None = None, retry_s: float = 5.0, int8_queries: Int8Queries = "off"):
        self.directory = Path(directory)
        self.embedder = embedder
        self.int8_queries: Int8Queries = int8_queries
        self.collection_name = collection
        self.chroma_url = chroma_url
        self.retry_s = retry_s
        self.vector_error: str | None = None
        self._client: Any = None
        self._collection: Any = None
        self._index: LexicalIndex | None = None
        self._lock = threading.RLock()
        self._query_cache: dict[tuple[bool, str], np.ndarray] = {}
        self._next_check = 0.0

    # -- chromadb ---------------------------------------------------------------------------------------------
    @property
    def collection(self) -> Any:
        """The collection searches use: chromadb (guarded: a failure switches to degraded mode), or in degraded
        mode a read-only view of the on-disk index that answers nearest-neighbour queries."""
        self._check_health()
        if self.vector_error is None:
            try:
                return GuardedCollection(self, self._chroma())
            except CatalogError:
                if not self._can_degrade():
                    raise
        return IndexVectors(self.index)

    def _chroma(self, create: bool = False) -> Any:
        """The real chromadb collection, opened on first use; CatalogError (and degraded mode) when it fails."""
        with self._lock:
            if self._collection is None:
                try:
                    self._collection = self._open_collection(create)
                except CatalogError as exc:
                    self._degrade(str(exc))
                    raise
            return self._collection

    def _open_collection(self, create: bool = False) -> Any:
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise CatalogError("chromadb is not installed: pip install chromadb==1.5.9") from exc
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.chroma_url:
                from urllib.parse import urlparse

                url = urlparse(self.chroma_url)
                client = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                             ssl=url.scheme == "https", settings=chroma_settings)
            else:
                self._refuse_empty_replacement(create)
                self.directory.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(self.directory / "chroma"), settings=chroma_settings)
            self._client = client
            return client.get_or_create_collection(
                self.collection_name,
                embedding_function=embedding_function_for(self.embedder),
                configuration={"hnsw": {"space": "cosine"}},
            )
        except CatalogError:
            raise
        except Exception as exc:  # chromadb raises many types for a missing/corrupt store or a down server
            where = self.chroma_url or self.directory / "chroma"
            if not self.chroma_url:
                forget_failed_system(self.directory / "chroma")
            raise CatalogError(f"cannot open the catalog store at {where}: {exc}") from exc

    def _refuse_empty_replacement(self, create: bool) -> None:
        """Never silently start an empty vector store over a catalog the on-disk index still holds."""
        problem = file_problem(self.directory / "chroma" / SQLITE_FILE)
        if problem and not create and indexed_count(self.index_path) > 0:
            raise CatalogError(f"{problem}; the on-disk index still holds the catalog: restore "
                               f"{self.directory / 'chroma'} or run `shopquery ingest FILE` again")

    def count(self) -> int:
        """Number of products stored (in degraded mode: in the on-disk index)."""
        return int(self.collection.count())

    # -- writing ------------------------------------------------------------------------------------------------
    def upsert(self, products: Iterable[Product], on_batch: Callable[[int], None] | None = None) -> UpsertReport:
        """Insert or update products by id, embedding only new or changed ones; then refresh the lexical index."""
        report = UpsertReport()
        batch: dict[str, Product] = {}
        for product in products:
            batch[product.id] = product
            if len(batch) >= BATCH:
                self._upsert_batch(list(batch.values()), report)
                if on_batch:
                    on_batch(len(batch))
                batch = {}
        if batch:
            self._upsert_batch(list(batch.values()), report)
            if on_batch:
                on_batch(len(batch))
        if report.added or report.updated or not self.index_path.exists():
            self.rebuild_index()
        return report

    def _upsert_batch(self, products: list[Product], report: UpsertReport) -> None:
        collection = self._writable()
        known = collection.get(ids=[p.id for p in products], include=["metadatas"])
        old = {i: (m or {}).get("hash") for i, m in zip(known["ids"], known["metadatas"], strict=True)}
        changed = [p for p in products if old.get(p.id) != content_hash(p)]
        report.unchanged += len(products) - len(changed)
        report.updated += sum(1 for p in changed if p.id in old)
        report.added += sum(1 for p in changed if p.id not in old)
        if not changed:
            return
        vectors = self.embedder.embed_passages([p.embedding_text() for p in changed])
        collection.upsert(
            ids=[p.id for p in changed],
            embeddings=[v.tolist() for v in vectors],
            documents=[p.search_text() for p in changed],
            metadatas=[_metadata(p) for p in changed],
        )

    def _writable(self) -> Any:
        """chromadb for writing: a missing store is created (re-ingesting repairs degraded mode), a corrupt or
        unreachable one raises CatalogError."""
        with self._lock:
            if self.vector_error is not None:
                self.vector_error, self._collection = None, None
            try:
                return self._chroma(create=True)
            except CatalogError as exc:
                raise CatalogError(f"cannot write the catalog: {exc} (move a corrupt store directory away, "
                                   "then ingest again)") from None

    # -- the derived index ------------------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        """Where the lexical index and product columns are kept."""
        return self.directory / "index"

    def _fingerprint(self, count: int) -> dict[str, Any]:
        return {"count": count, "collection": self.collection_name, "embedder": self.embedder.name}

    def rebuild_index(self) -> LexicalIndex:
        """Rebuild BM25 and columns from what chromadb holds (no re-embedding)."""
        products: list[Product] = []
        vectors: list[np.ndarray] = []
        collection = self._chroma()
        total, page = int(collection.count()), 2000
        for offset in range(0, total, page):
            got = collection.get(limit=page, offset=offset, include=["metadatas", "embeddings"])
            for meta, vec in zip(got["metadatas"], got["embeddings"], strict=True):
                products.append(Product.model_validate_json(meta["product"]))
                vectors.append(np.asarray(vec, dtype=np.float32))
        matrix = np.vstack(vectors) if vectors else np.zeros((0, self.embedder.dim), dtype=np.float32)
        index = LexicalIndex.build(products, matrix)
        index.save(self.index_path, self._fingerprint(total))
        with self._lock:
            self._index = index
        return index

    @property
    def index(self) -> LexicalIndex:
        """The lexical index, loaded from disk (or rebuilt when it is missing or stale)."""
        index = self._index
        if index is None:
            with self._lock:
                index = self._index = self._load_index()
        return index

    def _load_index(self) -> LexicalIndex:
        loaded: tuple[LexicalIndex, dict[str, Any]] | None = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            loaded = LexicalIndex.load(self.index_path)
        try:
            stored = int(self._chroma().count())
        except CatalogError:
            if loaded is not None and loaded[0].products:
                return loaded[0]  # degraded mode: serve what the on-disk index holds
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb raises many types for a broken store
            self._degrade(f"{type(exc).__name__}: {exc}")
            if loaded is not None and loaded[0].products:
                return loaded[0]
            raise CatalogError(f"cannot read the catalog store: {exc}") from exc
        if loaded is not None:
            index, manifest = loaded
            if manifest.get("version") == INDEX_VERSION and manifest.get("count") == stored \
                    and manifest.get("embedder") == self.embedder.name:
                return index
        return self.rebuild_index()

    def query_vector(self, text: str) -> np.ndarray:
        """The query's embedding, cached (relaxed re-searches and repeated queries embed once); by the int8 encoder
        when `int8_queries` says so for this text ("latin": text without Chinese characters, "all", "off")."""
        int8 = self.int8_queries == "all" or (self.int8_queries == "latin" and not has_cjk(text))
        key = (int8, text)
        vector = self._query_cache.get(key)
        if vector is None:
            vector = self.embedder.embed_queries([text], int8=int8)[0]
            if len(self._query_cache) >= QUERY_CACHE:
                self._query_cache.pop(next(iter(self._query_cache)))
            self._query_cache[key] = vector
        return vector

    def clear_query_cache(self) -> None:
        """Forget cached query embeddings (benchmarks time cold queries)."""
        self._query_cache.clear()

    def products_by_id(self, ids: list[str]) -> list[Product]:
        """The stored products with these ids, in the given order (unknown ids are skipped)."""
        index = self.index
        return [index.products[index.row_of[i]] for i in ids if i in index.row_of]

