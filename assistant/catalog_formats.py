"""What a merchant's catalog file is written in: the text encoding (a BOM, strict UTF-8, else detected with
charset-normalizer: GBK/GB18030 from Excel on a Chinese Windows, UTF-16, Big5, …) and Excel workbooks (.xlsx, read
with openpyxl)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.core.errors import CatalogError

SAMPLE_BYTES = 1 << 20
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Chinese encodings a detector may name by a subset; GB18030 decodes everything GB2312 and GBK do.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "hz": "gb18030", "big5": "big5hkscs"}


def detect_encoding(path: Path) -> str:
    """The text encoding of a file: from its BOM, UTF-8 when the start decodes strictly as UTF-8, else what
    charset-normalizer finds (Chinese encodings widened to GB18030 / Big5-HKSCS); UTF-8 when nothing fits."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if _mostly_utf8(sample):
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:  # a damaged file: the encoding that leaves the fewest bytes undecodable
        return min(("utf-8", "gb18030", "big5hkscs"), key=lambda name: _undecodable(sample, name))
    # a catalog of Chinese products: a reading as Chinese characters beats a closer fit as Korean or Thai
    chosen = next((m for m in matches if _mostly_hanzi(str(m))), matches[0])
    name = codecs.lookup(chosen.encoding).name
    return _SUPERSETS.get(name, name)


def _mostly_hanzi(text: str) -> bool:
    wide = [ch for ch in text if ord(ch) > 127 and not ch.isspace()]
    return bool(wide) and sum(1 for ch in wide if "\u4e00" <= ch <= "\u9fff") >= 0.6 * len(wide)


def _undecodable(sample: bytes, encoding: str) -> int:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False).count("\ufffd")


def _mostly_utf8(sample: bytes) -> bool:
    """True when the bytes are UTF-8 apart from a few bad spots (a stray byte in one row of a UTF-8 file stays a
    bad row, not a reason to read the whole file in another encoding)."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final=len(sample) < SAMPLE_BYTES)
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return bad == 0 or good >= bad  # text in GBK misread as UTF-8 gives about one good character per ten bad


def is_workbook(path: Path) -> bool:
    """True for an Excel .xlsx/.xlsm workbook (by suffix, or by its zip signature and suffix-less name)."""
    return path.suffix.lower() in (".xlsx", ".xlsm")


def workbook_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number, {column: value}) for the first sheet of a workbook; the first row is the header. Empty rows
    are skipped; numbers stay numbers."""
    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pragma: no cover - openpyxl is a pinned dependency
        raise CatalogError(f"reading .xlsx needs openpyxl ({exc})") from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is reported the same way
        raise CatalogError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip().lstrip("\ufeff").lower() if h is not None else "" for h in next(rows, ())]
        check_header(path, header)
        for number, cells in enumerate(rows, start=2):
            values = ["" if c is None else c for c in cells]
            if not any(str(v).strip() for v in values):
                continue
            values += [""] * (len(header) - len(values))
            stray = [i for i, v in enumerate(values) if str(v).strip() and (i >= len(header) or not header[i])]
            if stray:
                yield number, f"a value in column {stray[0] + 1}, which has no header"
                continue
            yield number, {h: v for h, v in zip(header, values, strict=False) if h}
    finally:
        book.close()


def check_header(path: Path, header: list[str]) -> None:
    """CatalogError unless the header names `id` and `title`, each column once."""
    if "id" not in header or "title" not in header:
        raise CatalogError(f"{path}: the header must have 'id' and 'title' columns (found: {', '.join(header)})")
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise CatalogError(f"{path}: the header names these columns more than once: {', '.join(twice)}")
