import json

import pytest

from assistant.catalog_io import ReadReport, detect_format, read_catalog, row_to_product
from assistant.errors import CatalogError


def _read(path):
    report = ReadReport()
    products = list(read_catalog(path, report))
    return products, report


def test_jsonl_good_rows_load_and_bad_rows_are_reported_by_line(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = [
        json.dumps({"id": "a1", "title": "蓝色T恤 男", "brand": "优衣库", "price": 79, "color": "blue"},
                   ensure_ascii=False),
        '{"id": "a2", "title": "broken json"',
        json.dumps({"title": "no id"}),
        "",
        json.dumps({"id": "a3", "title": "Mouse", "price": "-3"}),
        json.dumps({"id": 7, "title": "Keyboard", "price": "12.50", "attributes": {"layout": "US", "keys": 104}}),
        "[1, 2]",
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "x", "title": "\xff\xfe"}\n')
    products, report = _read(path)
    assert [p.id for p in products] == ["a1", "7"]
    assert products[1].price == 12.5 and products[1].attributes == {"layout": "US", "keys": 104}
    errors = {e.line: e.reason for e in report.errors}
    assert set(errors) == {2, 3, 5, 7, 8}
    assert "invalid JSON" in errors[2]
    assert "id" in errors[3]
    assert ">= 0" in errors[5]
    assert "object" in errors[7]
    assert "UTF-8" in errors[8]


def test_tsv_with_upstream_column_names(tmp_path):
    path = tmp_path / "products.tsv"
    path.write_text(
        "id\ttitle\tname\tsupplier\tproduct_type\tshort_description\tprice_cents\n"
        "3920564\tXerox toner Black\t006R90321\tXerox\tToner\tToner (6 Per Box)\t4995\n"
        "1\t\tno title\tX\tY\tZ\t100\n"
        "2\tShort row\n"
        '3\t"Quoted ""17"" laptop"\tq\tHP\tNotebook\t\tabc\n',
        encoding="utf-8",
    )
    products, report = _read(path)
    assert len(products) == 1
    p = products[0]
    assert (p.id, p.brand, p.category, p.price, p.description) == ("3920564", "Xerox", "Toner", 49.95,
                                                                   "Toner (6 Per Box)")
    assert p.attributes == {"model_name": "006R90321"}
    assert {e.line for e in report.errors} == {3, 4, 5}


def test_csv_multiline_record_reports_its_first_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,title,price\n1,"a\nmultiline title",3\n2,,4\n3,ok,5\n', encoding="utf-8")
    products, report = _read(path)
    assert [p.id for p in products] == ["1", "3"]
    assert [e.line for e in report.errors] == [4]


def test_csv_without_required_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("sku,name\n1,a\n")
    with pytest.raises(CatalogError, match="'id' and 'title'"):
        _read(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        _read(tmp_path / "none.jsonl")


def test_format_detection(tmp_path):
    assert detect_format(tmp_path / "x.jsonl") == "jsonl"
    assert detect_format(tmp_path / "x.tsv.gz") == "tsv"
    odd = tmp_path / "catalog.data"
    odd.write_text('{"id": "1", "title": "t"}\n')
    assert detect_format(odd) == "jsonl"


@pytest.mark.parametrize(
    "row, message",
    [
        ({"id": "1", "title": "t", "price": "cheap"}, "number"),
        ({"id": "1", "title": "t", "price": float("nan")}, "finite"),
        ({"id": "1", "title": "t", "attributes": "not json"}, "JSON object"),
        ({"id": "1", "title": "t", "attributes": {"a": {"nested": 1}}}, "attribute 'a'"),
        ({"id": True, "title": "t"}, "'id'"),
        ({"id": "1", "title": "x" * 20001}, "longer than"),
    ],
)
def test_bad_values(row, message):
    with pytest.raises(ValueError, match=message):
        row_to_product(row)


def test_list_attributes_are_joined_and_blank_values_dropped():
    p = row_to_product({"id": "1", "title": "t", "ean": ["1", "2"], "color": "  ", "colour": "Red"})
    assert p.attributes == {"ean": "1, 2"}
    assert p.color == "Red"
