"""A query log for expansion: past queries embedded once (cached as .npy under DATA_DIR, keyed by a hash of the
texts and the embedder's name) and searched by cosine similarity for a new query's nearest neighbours."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tools.core.errors import InputError
from tools.core.models import Embedder
from tools.package_files import package_path
from tools.text import has_cjk, normalize

RESOURCES = package_path("tools", "resources")
DEFAULT_LOG_SIZE = 20_000
DEFAULT_LOGS = (RESOURCES / "expansion_querylog_zh.tsv", RESOURCES / "expansion_querylog_en.tsv")
EMBED_BATCH = 512


# read-only places where set-up leaves the embedded shipped logs in a checkout (scripts/setup.sh runs
# `python -m tools.querylog`); an installed package has none and embeds them into DATA_DIR/expansion once
SHARED_CACHE_DIRS = [Path(__file__).resolve().parent.parent / ".cache" / "querylog"]


def read_log(path: Path, limit: int | None = None) -> list[str]:
    """Queries of a log file, first `limit` distinct ones. Lines are `query`, `query<TAB>count` or
    `id<TAB>query` (a numeric first field followed by text, as in the Multi-CPR files)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"query log not found: {path}")
    seen: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) >= 2 and fields[0].isdigit() and not fields[1].isdigit():
            fields = fields[1:]
        text = normalize(fields[0]) if fields else ""
        if text:
            seen.setdefault(text, None)
        if limit is not None and len(seen) >= limit:
            break
    return list(seen)


def texts_key(texts: Iterable[str], embedder_name: str) -> str:
    """A short hash naming one set of texts embedded by one model."""
    digest = hashlib.sha256(embedder_name.encode("utf-8"))
    for text in texts:
        digest.update(b"\n" + text.encode("utf-8"))
    return digest.hexdigest()[:16]


class QueryLog:
    """Past queries and their embeddings (computed on first use, then read from the cache directory)."""

    def __init__(self, texts: list[str], embedder: Embedder, cache_dir: Path | None = None):
        self.texts = list(dict.fromkeys(normalize(t) for t in texts if t.strip()))
        self.embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.is_zh = np.array([has_cjk(t) for t in self.texts], dtype=bool)
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, paths: Iterable[Path], embedder: Embedder, cache_dir: Path | None = None,
                   limit: int | None = None) -> QueryLog:
        """A log of the first `limit` queries of each file."""
        texts: list[str] = []
        for path in paths:
            texts.extend(read_log(path, limit))
        return cls(texts, embedder, cache_dir)

    @property
    def cache_path(self) -> Path | None:
        """Where this log's embeddings are kept."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"querylog-{texts_key(self.texts, self.embedder.name)}.npy"

    @property
    def vectors(self) -> np.ndarray:
        """One unit vector per query (embedded once; later processes read the cache)."""
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self._load_or_embed()
        return self._vectors

    def _load_or_embed(self) -> np.ndarray:
        path = self.cache_path
        candidates = [path] if path is not None else []
        if path is not None:
            candidates += [d / path.name for d in SHARED_CACHE_DIRS]
        for found in candidates:
            if found.is_file():
                vectors = np.load(found)
                if vectors.shape[0] == len(self.texts):
                    return vectors.astype(np.float32, copy=False)
        parts = [self.embedder.embed_queries(self.texts[i:i + EMBED_BATCH])
                 for i in range(0, len(self.texts), EMBED_BATCH)]
        vectors = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, 1), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        return vectors

    def neighbours(self, text: str, vector: np.ndarray, n: int = 3, min_similarity: float = 0.0) -> list[tuple[str,
                                                                                                          float]]:
        """The `n` most similar past queries in the same script as `text` (never `text` itself), best first."""
        if not self.texts:
            return []
        text = normalize(text)
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        sims = np.where(self.is_zh == has_cjk(text), sims, -np.inf)
        take = min(n + 1, len(self.texts))
        top = np.argpartition(-sims, take - 1)[:take]
        out = []
        for i in top[np.argsort(-sims[top], kind="stable")]:
            if self.texts[i] != text and np.isfinite(sims[i]) and sims[i] >= min_similarity:
                out.append((self.texts[i], float(sims[i])))
        return out[:n]


def main(argv: list[str] | None = None) -> int:
    """Embed the shipped query logs once with the default embedder into a cache directory (used by set-up)."""
    import argparse

    from tools.embeddings import get_embedder

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache", type=Path, required=True,
                        help="folder for the embeddings (set-up uses .cache/querylog in the checkout)")
    parser.add_argument("--embedder", default="e5-torch")
    args = parser.parse_args(argv)
    log = QueryLog.from_files(DEFAULT_LOGS, get_embedder(args.embedder), args.cache, limit=DEFAULT_LOG_SIZE)
    vectors = log.vectors
    print(f"{len(log.texts)} logged queries embedded: {log.cache_path} {vectors.shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
