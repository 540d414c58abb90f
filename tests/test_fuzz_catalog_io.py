"""Property-based tests of catalog ingestion: any bytes in JSONL/CSV/TSV give the good rows as products and every
bad row reported by line (rows = good + bad), and the findings of fuzzing (deep JSON, huge integers, malformed CSV
quoting, oversized fields, repeated header columns) as regression tests."""

from __future__ import annotations

import json

import pytest
from fuzz.checks import check_ingest
from fuzz.strategies import catalog_files, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import catalog_io
from assistant.catalog_io import ReadReport, read_catalog
from tools.core.errors import CatalogError

FUZZ = settings(max_examples=examples(100), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
GOOD = st.fixed_dictionaries({"id": st.text(alphabet="abcdefgh0123456789", min_size=1, max_size=8),
                              "title": st.text(min_size=1, max_size=20).filter(str.strip)},
                             optional={"price": st.floats(0, 1e6), "brand": st.text(max_size=8)})
BAD = st.sampled_from(['{"id": "x", "title": ', '{"title": "no id"}', '[1, 2]', '{"id": "p", "title": "t", '
                       '"price": -1}', '{"id": true, "title": "t"}', "[" * 5000, '{"id": ' + "9" * 5000 + '}',
                       '{"id": "a", "title": "t", "attributes": {"x": {"y": 1}}}'])


@FUZZ
@given(file=catalog_files())
def test_any_catalog_file_is_read_without_losing_a_row(tmp_path, file):
    check_ingest(tmp_path, *file)


@FUZZ
@given(good=st.lists(GOOD, max_size=6), bad=st.lists(BAD, max_size=4), data=st.data())
def test_good_rows_load_and_each_bad_row_is_reported_at_its_line(tmp_path, good, bad, data):
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    bad_at = []
    for row in bad:
        at = data.draw(st.integers(0, len(lines)))
        lines.insert(at, row)
        bad_at = [b + (b >= at) for b in bad_at] + [at]
    products, report = check_ingest(tmp_path, "jsonl", ("\n".join(lines) + "\n").encode())
    assert [p.id for p in products] == [r["id"].strip() for r in good if r["id"].strip()]
    assert [e.line for e in report.errors] == sorted(b + 1 for b in bad_at)


def _read(path):
    report = ReadReport()
    return list(read_catalog(path, report)), report


def test_deeply_nested_json_is_a_bad_row_not_a_crash(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "title": "t"}\n' + "[" * 100_000 + '\n{"id": "b", "title": "u"}\n')
    products, report = _read(path)
    assert [p.id for p in products] == ["a", "b"]
    assert [(e.line, e.reason) for e in report.errors] == [(2, "invalid JSON (nested too deeply)")]


def test_an_integer_with_thousands_of_digits_is_a_bad_row(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "title": "t", "price": ' + "1" * 5000 + '}\n{"id": "b", "title": "u"}\n')
    products, report = _read(path)
    assert [p.id for p in products] == ["b"] and report.errors[0].line == 1
    assert "invalid JSON" in report.errors[0].reason


def test_an_unterminated_quote_is_reported_with_the_lines_it_swallowed(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title\n1,ok\n2,"never closed\n3,lost\n4,lost too\n')
    products, report = _read(path)
    assert [p.id for p in products] == ["1"] and report.rows == 2
    assert report.errors[0].line == 3 and "lines 3-5" in report.errors[0].reason


def test_a_stray_quote_is_a_bad_row_and_reading_goes_on(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text('id\ttitle\n1\t"a"b\n2\tfine\n3\t"multi\nline"\n4\tlast\n')
    products, report = _read(path)
    assert [p.id for p in products] == ["2", "3", "4"] and products[1].title == "multi\nline"
    assert [e.line for e in report.errors] == [2] and "malformed row" in report.errors[0].reason


def test_a_field_over_the_size_limit_is_a_bad_row(tmp_path, monkeypatch):
    import csv

    monkeypatch.setattr(catalog_io, "csv", csv)
    old = csv.field_size_limit(1000)
    try:
        path = tmp_path / "c.csv"
        path.write_text(f'id,title\n1,"{"x" * 2000}"\n2,short\n')
        products, report = _read(path)
    finally:
        csv.field_size_limit(old)
    assert [p.id for p in products] == ["2"]
    assert report.errors[0].line == 2 and "field larger than field limit" in report.errors[0].reason


def test_a_header_that_cannot_be_read_or_repeats_a_column_is_a_clear_error(tmp_path):
    repeated = tmp_path / "r.csv"
    repeated.write_text("id,title,id\n1,t,2\n")
    with pytest.raises(CatalogError, match="more than once: id"):
        _read(repeated)
    broken = tmp_path / "b.csv"
    broken.write_text('id,"title\n')
    with pytest.raises(CatalogError, match="header line cannot be read"):
        _read(broken)
    blank_names = tmp_path / "e.csv"
    blank_names.write_text("id,title,,\n1,t,,\n")
    assert [p.id for p in _read(blank_names)[0]] == ["1"]


def test_a_utf16_file_cut_inside_a_character_loses_only_its_last_row(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes('{"id": "a", "title": "t"}\n{"id": "b", "title": "u"}\n'.encode("utf-16") + b"\x00")
    products, report = _read(path)
    assert [p.id for p in products] == ["a", "b"] and report.encoding == "utf-16"
    assert [(e.line, e.reason) for e in report.errors] == [(3, "not valid UTF-16 text")]


def test_a_carriage_return_inside_a_json_row_is_not_a_line_break_in_any_encoding(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = '{"id": "a",\r "title": "蓝色纯棉短袖衬衫男士夏季"}\n{"id": "b", "title": "黑色真皮双肩包大容量"}\n'
    path.write_bytes(rows.encode("gb18030"))
    products, report = _read(path)
    assert [p.id for p in products] == ["a", "b"] and report.encoding == "gb18030" and not report.errors
