"""Invariants that must hold for ANY input, shared by the property tests and the fuzz driver. Each check raises
AssertionError (or lets an unexpected exception escape) when the component misbehaves."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.core.errors import CatalogError, InputError
from tools.core.types import Product
from tools.hanzi import to_simplified

CATALOG = [
    Product(id="1", title="Logitech M185 wireless mouse", brand="Logitech", category="Mice", price=19.99,
            currency="USD", color="grey"),
    Product(id="2", title="Sony WH-1000XM4 wireless headphones", brand="Sony", category="Headphones", price=279.0,
            currency="USD", color="black"),
    Product(id="3", title="DeWalt DCD771 cordless drill driver 18V", brand="DeWalt", category="Drills"),
    Product(id="4", title="夏季纯棉蓝色T恤 男 短袖", brand="优衣库", category="T恤", price=79.0, currency="CNY",
            color="blue"),
    Product(id="5", title="红色连衣裙 女 雪纺", brand="ONLY", category="连衣裙", price=299.0, currency="CNY",
            color="red"),
    Product(id="6", title="苹果 iPhone 15 手机壳 透明", brand="苹果", category="手机壳", price=49.0, currency="CNY"),
    Product(id="7", title="华为 Mate 60 手机 黑色", brand="华为", category="手机", price=5999.0, currency="CNY",
            color="black"),
    Product(id="8", title="耐克 跑步鞋 男", brand="耐克", category="跑步鞋", price=499.0, currency="CNY"),
    Product(id="9", title="Nike running shoes", brand="Nike", category="Running shoes", price=89.0, currency="USD"),
]
PROTECTED = ["Logitech", "Sony", "DeWalt", "优衣库", "ONLY", "华为", "耐克", "Nike", "DCD771"]


def build_parser() -> Any:
    """The attribute parser over the fuzz catalog."""
    from tools.attributes import AttributeParser

    return AttributeParser.from_products(CATALOG)


def build_corrector() -> Any:
    """The spell corrector over the fuzz catalog (a few seconds: the SymSpell index is built here)."""
    from tools.spelling import SpellCorrector

    corrector = SpellCorrector.build(CATALOG, fingerprint="fuzz")
    corrector.add_terms(["DCD771"], protected=True)
    return corrector


# --- the attribute parser ------------------------------------------------------------------------------------------
def check_parse(parser: Any, text: str) -> Any:
    """Any text gives a typed result (or InputError); prices are ordered, spans come from the text, the result is
    deterministic and the same for the text in normalised form."""
    from tools.attributes import ParsedAttributes
    from tools.text import normalize

    try:
        result = parser.parse(text)
    except InputError as exc:
        assert str(exc), "an InputError must say what is wrong"
        return None
    assert isinstance(result, ParsedAttributes)
    ParsedAttributes.model_validate(result.model_dump())
    if result.price_min is not None and result.price_max is not None:
        assert result.price_min <= result.price_max, (text, result.price_min, result.price_max)
    assert result.color is None or result.color not in result.exclude_colors, (text, result)
    assert result.brand is None or result.brand not in result.exclude_brands, (text, result)
    filters = result.to_filters()
    if filters.price_min is not None and filters.price_max is not None:
        assert filters.price_min <= filters.price_max
    seen = normalize(text.replace("’", "'")) if isinstance(text, str) else ""
    for slot, pieces in result.spans.items():
        for piece in pieces:
            assert piece and piece in seen, (text, slot, piece)
    assert len(result.rest) <= len(seen)
    assert parser.parse(text).model_dump() == result.model_dump(), "parsing must be deterministic"
    if normalize(seen) == seen:
        assert parser.parse(seen).model_dump() == result.model_dump(), (text, seen)
    return result


# --- the spell corrector -------------------------------------------------------------------------------------------
def _protected_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for term in PROTECTED:
        pattern = re.escape(term) if not term.isascii() else rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])"
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    spans += [(m.start(), m.end()) for m in re.finditer(r"\d+", text)]
    return spans


def check_correct(corrector: Any, text: str) -> Any:
    """Any text gives a result whose edits sit where they say (in the text as normalised), do not overlap, rebuild
    the corrected text, and never touch a digit or a protected term."""
    result = corrector.correct(text)
    assert result.original == text
    assert 0.0 <= result.confidence <= 1.0
    if result.normalized is not None:  # traditional -> simplified Chinese comes first and is not an edit
        assert result.normalized != text and result.normalized == to_simplified(text), (text, result.normalized)
        text = result.normalized
    rebuilt, end = [], 0
    for edit in sorted(result.edits, key=lambda e: e.position):
        assert edit.position >= end, ("overlapping edits", text, result.edits)
        assert text[edit.position:edit.position + len(edit.source)] == edit.source, (text, edit)
        assert edit.source != edit.target, edit
        rebuilt += [text[end:edit.position], edit.target]
        end = edit.position + len(edit.source)
        for start, stop in _protected_spans(text):
            assert stop <= edit.position or start >= end, ("protected text changed", text, edit)
    assert "".join(rebuilt) + text[end:] == result.corrected
    if not result.edits:
        assert result.corrected == text
    assert re.findall(r"\d+", result.corrected) == re.findall(r"\d+", text), (text, result.corrected)
    return result


def check_correct_stable(corrector: Any, text: str) -> None:
    """Correcting a corrected query changes nothing more (a fixed point after one pass)."""
    first = corrector.correct(text)
    second = corrector.correct(first.corrected)
    assert second.corrected == first.corrected, (text, first.corrected, second.corrected, second.edits)


# --- catalog ingestion ---------------------------------------------------------------------------------------------
def check_ingest(directory: Path, fmt: str, data: bytes, name: str = "catalog") -> tuple[list[Product], Any]:
    """Any file gives products plus bad rows reported by line (or a CatalogError for an unusable header): every
    row counted once, line numbers inside the file and increasing, every product valid."""
    from assistant.catalog_io import ReadReport, read_catalog

    path = Path(directory) / f"{name}.{fmt}"
    path.write_bytes(data)
    report = ReadReport()
    try:
        products = list(read_catalog(path, report))
    except CatalogError as exc:
        assert str(exc)
        return [], report
    assert report.rows == len(products) + len(report.errors), (report.rows, len(products), report.errors)
    lines = _line_count(data, fmt)
    previous = 0
    for error in report.errors:
        assert previous < error.line <= lines, (error, lines)
        assert isinstance(error.reason, str) and error.reason.strip()
        previous = error.line
    for product in products:
        assert Product.model_validate(product.model_dump()) == product
        assert product.id.strip() and product.title.strip()
    return products, report


def _line_count(data: bytes, fmt: str) -> int:
    """Lines as the reader counts them: JSONL splits on \\n; CSV/TSV also on a lone \\r (as editors do)."""
    if fmt == "jsonl":
        return data.count(b"\n") + 1
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline="")
    return sum(1 for _ in stream) + 1


# --- request models ------------------------------------------------------------------------------------------------
def check_request(model: type[BaseModel], body: Any) -> BaseModel | None:
    """Any JSON gives a ValidationError or a valid model (which round-trips through its own JSON)."""
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        assert exc.errors(), "a validation error must name its fields"
        json.dumps(exc.errors(include_url=False, include_context=False, include_input=False))
        return None
    again = model.model_validate_json(parsed.model_dump_json())
    assert again.model_dump() == parsed.model_dump(), (body, parsed)
    messages = getattr(parsed, "messages", None)
    for message in messages or []:
        try:
            assert isinstance(message.text(), str)
        except ValueError as exc:
            assert "only text content" in str(exc)
    return parsed


def check_request_json(model: type[BaseModel], raw: bytes) -> BaseModel | None:
    """Any bytes sent as a JSON body give a ValidationError or a valid model."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        assert exc.errors()
        return None
