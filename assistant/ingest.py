"""Loading a catalog file into the store: validated rows, bad rows reported by line, good rows kept."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.catalog_io import ReadReport, RowError, read_catalog
from tools.catalog_store import CatalogStore


@dataclass
class IngestResult:
    """What an ingest did: counts, the bad rows, and how long it took."""

    path: Path
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    encoding: str = "utf-8"
    simplified: int = 0

    @property
    def loaded(self) -> int:
        """Rows stored (new, changed or already identical)."""
        return self.added + self.updated + self.unchanged

    @property
    def skipped(self) -> int:
        """Rows rejected."""
        return len(self.errors)

    def summary(self) -> str:
        """One line for people."""
        rate = self.loaded / self.seconds if self.seconds else 0.0
        converted = f", {self.simplified} converted from traditional Chinese" if self.simplified else ""
        return (f"{self.path.name} ({self.encoding}): loaded {self.loaded} ({self.added} new, {self.updated} "
                f"updated, {self.unchanged} unchanged{converted}), skipped {self.skipped} bad rows, "
                f"{self.seconds:.1f} s ({rate:.0f} rows/s)")


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def ingest_file(store: CatalogStore, path: Path, progress: bool = True, simplify: bool = True) -> IngestResult:
    """Read, validate and upsert a catalog file; never stops at a bad row. With `simplify`, traditional Chinese
    text is stored simplified."""
    from tqdm import tqdm

    start = time.perf_counter()
    report = ReadReport()
    total = _count_lines(path) if path.is_file() else None
    bar = tqdm(total=total, unit="row", desc=f"ingest {path.name}", disable=not progress, file=sys.stderr,
               mininterval=0.5)
    upserted = store.upsert(read_catalog(path, report, simplify=simplify), on_batch=bar.update)
    bar.close()
    return IngestResult(path=path, rows=report.rows, added=upserted.added, updated=upserted.updated,
                        unchanged=upserted.unchanged, errors=report.errors,
                        seconds=time.perf_counter() - start, encoding=report.encoding,
                        simplified=report.simplified)
