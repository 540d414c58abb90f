"""Hypothesis strategies: random text mixed with the words the parsers react to, catalog rows and files, and JSON
bodies shaped like (and unlike) the API's requests."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import strategies as st

FRAGMENTS = [
    "蓝色", "红色", "不要红色", "黑色的", "T恤", "t桖", "手机壳", "连衣裙", "耐克", "Nike", "logitech", "华为",
    "50元到100元", "100块以内", "200元以上", "三百块", "under $20", "20-30 dollars", "over 50", "between 10 and 5",
    "$", "¥", "元", "块", "-", "到", "以内", "以上", "not red", "no nike", "without", "size", "XL", "42码", "男",
    "女", "men's", "women", "kids", "wireless mouse", "iphnoe", "hedphones", "head phones", "DCD771", "2T",
    "1e308", "９９", "Ⅻ", "½", "٣", "0.5", "-1", "’", "'", "\u200b", "\x00", "\x1b[31m", "\ufeff", "\U0001f600",
    " ", "  ", ",", "。", "…",
]


def examples(default: int) -> int:
    """How many examples a property test runs: `default`, or SHOPQUERY_FUZZ_EXAMPLES for long runs."""
    raw = os.environ.get("SHOPQUERY_FUZZ_EXAMPLES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def queries() -> st.SearchStrategy[str]:
    """Any unicode text, and text built from the fragments the parsers act on (with random glue)."""
    glued = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=8).map("".join)
    spaced = st.lists(st.sampled_from(FRAGMENTS), max_size=8).map(" ".join)
    return st.one_of(st.text(max_size=80), glued, spaced, st.text(max_size=600))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                    max_leaves=8)
COLUMNS = ["id", "title", "brand", "category", "price", "price_cents", "currency", "color", "colour",
           "description", "attributes", "supplier", "type", "name", "extra"]


def rows() -> st.SearchStrategy[dict[str, Any]]:
    """A catalog row: usually with an id and a title, any other column with any JSON value."""
    good_id = st.one_of(st.text(min_size=1, max_size=12), st.integers())
    return st.fixed_dictionaries(
        {}, optional={"id": st.one_of(good_id, JSON), "title": st.one_of(st.text(max_size=30), JSON)},
    ).flatmap(lambda base: st.dictionaries(st.sampled_from(COLUMNS), JSON, max_size=4).map(
        lambda extra: {**extra, **base}))


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _table(header: list[str], body: list[dict[str, Any]], delimiter: str) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    for row in body:
        writer.writerow([_cell(row.get(h, "")) for h in header])
    return out.getvalue()


@st.composite
def catalog_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, file bytes): JSONL/CSV/TSV made of random rows, in a random encoding, with random junk lines."""
    fmt = draw(st.sampled_from(["jsonl", "csv", "tsv"]))
    body = draw(st.lists(rows(), max_size=6))
    if fmt == "jsonl":
        lines = [json.dumps(r, ensure_ascii=draw(st.booleans())) for r in body]
        junk = st.one_of(st.text(max_size=20), st.sampled_from(["{", "[1]", "null", '{"id": 1', "\x00", "[" * 3000,
                                                                '{"id": "n", "title": "t", "price": ' + "9" * 5000 + "}"]))
        for _ in range(draw(st.integers(0, 2))):
            lines.insert(draw(st.integers(0, len(lines))), draw(junk))
        text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    else:
        header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6, unique=True))
        if draw(st.booleans()):
            header = ["id", "title", *[h for h in header if h not in ("id", "title")]]
        text = _table(header, body, "," if fmt == "csv" else "\t")
        text += draw(st.sampled_from(["", "", '9,"never closed\n', 'x,"a"b\n', "\r\n\r\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "gbk", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=16))
    return fmt, data


def request_bodies() -> st.SearchStrategy[Any]:
    """JSON bodies: any JSON, and objects that use the request fields with values of any type."""
    fields = ["query", "user_id", "k", "message", "session_id", "stream", "model", "messages", "stream_options",
              "user", "metadata", "n", "role", "content", "type", "text", "extra"]
    messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "x"])},
                                              optional={"content": JSON, "name": JSON}), max_size=3)
    value = st.one_of(JSON, messages, st.text(alphabet="ab1._:@- ", max_size=140))
    return st.one_of(JSON, st.dictionaries(st.sampled_from(fields), value, max_size=5))
