"""Reading catalog files (JSONL, CSV, TSV in any common encoding; Excel .xlsx) into validated products, reporting
each bad row by line number. Traditional Chinese text is turned into simplified at reading (tools/hanzi.py), so
a catalog from Taiwan or Hong Kong is searchable with simplified queries."""

from __future__ import annotations

import codecs
import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.catalog_formats import check_header, detect_encoding, is_workbook, workbook_rows
from tools.core.errors import CatalogError
from tools.core.types import Product
from tools.hanzi import to_simplified

# Column names seen in real catalogs, mapped onto the product schema.
ALIASES = {
    "supplier": "brand",
    "manufacturer": "brand",
    "product_type": "category",
    "type": "category",
    "short_description": "description",
    "colour": "color",
    "name": "model_name",
}
CORE_FIELDS = {"id", "title", "brand", "category", "price", "currency", "color", "description", "attributes"}
TEXT_FIELDS = ("title", "brand", "category", "color", "description")
MAX_FIELD_CHARS = 20_000
csv.field_size_limit(10_000_000)


def _keep_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    """Decode error handler: every undecodable byte becomes the lone surrogate U+DC00+byte. Unlike the built-in
    'surrogateescape' it also takes bytes below 0x80 (a UTF-16 file cut in the middle of a character, a stray
    NUL), so a damaged line is a bad row instead of an exception that ends the read."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + b) for b in error.object[error.start:error.end]), error.end


KEEP_BAD_BYTES = "shopquery.keep_bad_bytes"
codecs.register_error(KEEP_BAD_BYTES, _keep_bad_bytes)


@dataclass
class RowError:
    """A row that could not be loaded, with the 1-based line where it starts."""

    line: int
    reason: str


@dataclass
class ReadReport:
    """Counts and errors gathered while reading a catalog file."""

    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    encoding: str = "utf-8"
    simplified: int = 0


def detect_format(path: Path, encoding: str = "utf-8") -> str:
    """Return 'xlsx', 'jsonl', 'csv' or 'tsv' from the file name (or the first line when the suffix says
    nothing)."""
    if is_workbook(path):
        return "xlsx"
    suffixes = [s.lower() for s in path.suffixes]
    for fmt in ("jsonl", "csv", "tsv"):
        if f".{fmt}" in suffixes or (fmt == "jsonl" and ".json" in suffixes):
            return fmt
    with path.open(encoding=encoding, errors="replace") as fh:
        first = fh.readline(65536).lstrip().lstrip("\ufeff")
    if first.startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


def read_catalog(path: Path, report: ReadReport, simplify: bool = True) -> Iterator[Product]:
    """Yield every valid product of a catalog file; bad rows go into `report.errors` with their line numbers.
    The encoding found goes into `report.encoding`; with `simplify`, traditional Chinese text becomes simplified
    (the rows changed are counted in `report.simplified`)."""
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    report.encoding = "xlsx" if is_workbook(path) else detect_encoding(path)
    fmt = detect_format(path, report.encoding)
    if fmt == "xlsx":
        rows = workbook_rows(path)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path, report.encoding)
    else:
        rows = _table_rows(path, "\t" if fmt == "tsv" else ",", report.encoding)
    for line, raw in rows:
        report.rows += 1
        if isinstance(raw, str):
            report.errors.append(RowError(line, raw))
            continue
        try:
            product = row_to_product(raw)
        except (ValueError, ValidationError) as exc:
            report.errors.append(RowError(line, _reason(exc)))
            continue
        if simplify:
            product, changed = simplified(product)
            report.simplified += changed
        yield product


def simplified(product: Product) -> tuple[Product, bool]:
    """The product with traditional Chinese in its text fields and text attributes turned into simplified (the
    original title kept as the attribute `title_original`), and whether anything changed."""
    update: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(product, name)
        if isinstance(value, str) and (converted := to_simplified(value)) != value:
            update[name] = converted
    attributes = {k: to_simplified(v) if isinstance(v, str) else v for k, v in product.attributes.items()}
    if attributes != product.attributes:
        update["attributes"] = attributes
    if not update:
        return product, False
    if "title" in update:
        update["attributes"] = {**update.get("attributes", product.attributes), "title_original": product.title}
    return product.model_copy(update=update), True


def _text_lines(path: Path, encoding: str) -> Iterator[tuple[int, bytes | str]]:
    """(line number, line) of a text file: bytes for UTF-8 (decoded per line, so one bad line is one bad row),
    decoded text for other encodings (undecodable bytes kept as surrogates). Lines end at \\n only, in every
    encoding (a lone \\r inside a JSON row is not a line break)."""
    if encoding == "utf-8":
        with path.open("rb") as fh:
            yield from enumerate(fh, start=1)
        return
    with path.open(encoding=encoding, errors=KEEP_BAD_BYTES, newline="\n") as fh:
        for number, line in enumerate(fh, start=1):
            yield number, line.lstrip("\ufeff") if number == 1 else line


def _jsonl_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, data in _text_lines(path, encoding):
        if not data.strip():
            continue
        text = _decoded(data)
        if text is None:
            yield number, f"not valid {_label(encoding)} text"
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        except RecursionError:
            yield number, "invalid JSON (nested too deeply)"
            continue
        except ValueError as exc:  # e.g. an integer literal with thousands of digits
            yield number, f"invalid JSON ({str(exc)[:80]})"
            continue
        yield number, obj if isinstance(obj, dict) else "a row must be a JSON object"


def _decoded(data: bytes | str) -> str | None:
    """A line as text; None when it holds bytes its encoding cannot decode."""
    if isinstance(data, str):
        return None if _has_bad_bytes(data) else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _label(encoding: str) -> str:
    return "UTF-8" if encoding.startswith("utf-8") else encoding.upper()


def _table_rows(path: Path, delimiter: str, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any] | str]]:
    text_encoding = "utf-8" if encoding == "utf-8" else encoding
    with path.open(encoding=text_encoding, errors=KEEP_BAD_BYTES, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            header = [h.strip().lstrip("\ufeff").lower() for h in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError(f"{path}: the header line cannot be read ({exc})") from None
        check_header(path, header)
        for line, cells in _records(reader):
            if isinstance(cells, str):
                yield line, cells
            elif not any(c.strip() for c in cells):
                continue
            elif any(_has_bad_bytes(c) for c in cells):
                yield line, f"not valid {_label(encoding)} text"
            elif len(cells) != len(header):
                yield line, f"expected {len(header)} columns, found {len(cells)}"
            else:
                yield line, dict(zip(header, cells, strict=True))


def _records(reader: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(line where the record starts, its cells) for every record; a malformed one (an unterminated or stray quote,
    a field over the size limit) gives its line and the reason instead, and reading goes on after it."""
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f" (lines {start}-{reader.line_num})" if reader.line_num > start else ""
            yield start, f"malformed row{where}: {exc}"
        else:
            yield start, cells
        start = reader.line_num + 1


def _has_bad_bytes(text: str) -> bool:
    return any("\udc00" <= ch <= "\udcff" for ch in text)


def row_to_product(raw: dict[str, Any]) -> Product:
    """Map one raw row (any known column names) onto a validated Product; unknown columns become attributes."""
    row: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        name = ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise ValueError(f"field '{key}' is longer than {MAX_FIELD_CHARS} characters")
        if name == "price_cents":
            row["price"] = _number(value, "price_cents") / 100.0
        elif name == "attributes":
            attributes.update(_attributes(value))
        elif name in CORE_FIELDS:
            row[name] = value
        else:
            attributes[name] = _scalar(value, name)
    row["id"] = _text_id(row.get("id"))
    if "price" in row:
        row["price"] = _number(row["price"], "price")
    row["attributes"] = attributes
    return Product.model_validate(row)


def _text_id(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("'id' must be a string or an integer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():  # a spreadsheet's number cell
        return str(int(value))
    return value.strip() if isinstance(value, str) else value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"'{name}' must be a number")
    if isinstance(value, str):
        value = value.strip().replace(",", "").lstrip("$¥￥€£")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"'{name}' must be a finite number >= 0, got {value!r}")
    return number


def _attributes(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("'attributes' must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("'attributes' must be an object of name -> value")
    return {str(k): _scalar(v, str(k)) for k, v in value.items() if v is not None}


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, str | int | float | bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"attribute '{name}' is not a finite number")
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    raise ValueError(f"attribute '{name}' must be a text, number or true/false value")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "row"
            parts.append(f"{where}: {err['msg']}")
        return "; ".join(parts)
    return str(exc)
