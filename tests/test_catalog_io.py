import json

import pytest

from assistant.catalog_io import ReadReport, detect_format, read_catalog, row_to_product
from tools.core.errors import CatalogError


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


# --- merchant files: encodings, traditional Chinese, Excel -------------------------------------------------------
MERCHANT_ROWS = [("1001", "夏季纯棉蓝色T恤 男 短袖", "优衣库", "79"), ("1002", "无线鼠标 静音 办公", "罗技", "59.5"),
                 ("1003", "苹果手机壳 透明", "苹果", "49")]


def _merchant_csv(encoding: str, bom: bool = False) -> str:
    text = "id,title,brand,price\r\n" + "".join(",".join(r) + "\r\n" for r in MERCHANT_ROWS)
    return ("\ufeff" if bom else "") + text


@pytest.mark.parametrize("encoding, bom, found", [
    ("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"), ("gbk", False, "gb18030"),
    ("gb18030", False, "gb18030"), ("utf-16", False, "utf-16"), ("utf-16-le", True, "utf-16"),
])
def test_csv_in_the_encodings_merchants_export(tmp_path, encoding, bom, found):
    path = tmp_path / "merchant.csv"
    path.write_bytes(_merchant_csv(encoding, bom).encode(encoding))
    products, report = _read(path)
    assert report.encoding == found and not report.errors
    assert [(p.id, p.title, p.brand, p.price) for p in products] == [
        (i, t, b, float(price)) for i, t, b, price in MERCHANT_ROWS]


def test_a_gbk_file_with_a_broken_row_keeps_the_good_rows(tmp_path):
    path = tmp_path / "merchant.tsv"
    good = "id\ttitle\n1\t蓝牙耳机 降噪\n".encode("gbk")
    path.write_bytes(good + b"2\t\x81\x20broken\n" + "3\t电热毯 双人\n".encode("gbk"))
    products, report = _read(path)
    assert report.encoding == "gb18030" and [p.title for p in products] == ["蓝牙耳机 降噪", "电热毯 双人"]
    assert [(e.line, e.reason) for e in report.errors] == [(3, "not valid GB18030 text")]


def test_traditional_chinese_is_stored_simplified_with_the_original_title(tmp_path):
    path = tmp_path / "tw.jsonl"
    rows = [{"id": "a", "title": "藍牙耳機 降噪 無線", "brand": "索尼", "category": "耳機", "color": "黑色",
             "attributes": {"材質": "塑膠"}},
            {"id": "b", "title": "无线鼠标", "brand": "罗技"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    products, report = _read(path)
    a, b = products
    assert (a.title, a.category, a.attributes["材質"]) == ("蓝牙耳机 降噪 无线", "耳机", "塑胶")
    assert a.attributes["title_original"] == "藍牙耳機 降噪 無線"
    assert b.title == "无线鼠标" and "title_original" not in b.attributes and report.simplified == 1
    kept = ReadReport()
    assert [p.title for p in read_catalog(path, kept, simplify=False)][0] == "藍牙耳機 降噪 無線"


def test_big5_catalog_from_taiwan(tmp_path):
    path = tmp_path / "tw.csv"
    text = "id,title,brand\n" + "".join(f"{i},藍牙耳機 無線 降噪 第{i}代,蘋果\n" for i in range(1, 30))
    path.write_bytes(text.encode("big5"))
    products, report = _read(path)
    assert report.encoding.startswith("big5") and len(products) == 29
    assert products[0].title == "蓝牙耳机 无线 降噪 第1代" and products[0].brand == "苹果"


def test_xlsx_workbook(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["ID", "Title", "Brand", "Price", "Colour"])
    sheet.append([2001, "夏季連衣裙 雪紡", "ONLY", 299, "red"])
    sheet.append([None, None, None, None, None])
    sheet.append([2002, None, "X", 5, None])
    sheet.append([2003, "Wireless mouse", None, 19.99, None, "extra"])
    sheet.append(["2004", "USB-C cable", "Anker", "12.5", None])
    path = tmp_path / "catalog.xlsx"
    book.save(path)
    products, report = _read(path)
    assert report.encoding == "xlsx"
    assert [(p.id, p.title, p.price, p.color) for p in products] == [
        ("2001", "夏季连衣裙 雪纺", 299.0, "red"), ("2004", "USB-C cable", 12.5, None)]
    assert {e.line for e in report.errors} == {4, 5}


def test_gbk_and_traditional_catalogs_ingest_and_are_found_in_simplified_chinese(tmp_path, hash_embedder):
    from assistant.ingest import ingest_file
    from tools.catalog_search import search_catalog
    from tools.catalog_store import CatalogStore

    gbk = tmp_path / "excel-export.csv"
    gbk.write_bytes(_merchant_csv("gbk").encode("gbk"))
    big5 = tmp_path / "taiwan.csv"
    big5.write_bytes(("id,title,brand,category,price\r\n"
                      "tw1,藍牙耳機 無線 降噪,索尼,耳機,899\r\n"
                      "tw2,電熱毯 雙人 智能控溫,彩虹,電熱毯,199\r\n"
                      "tw3,機械鍵盤 紅軸 無線,羅技,鍵盤,459\r\n").encode("big5"))
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    first, second = ingest_file(store, gbk, progress=False), ingest_file(store, big5, progress=False)
    assert (first.loaded, first.skipped, first.encoding) == (3, 0, "gb18030")
    assert (second.loaded, second.skipped, second.simplified) == (3, 0, 3)
    assert "(gb18030)" in first.summary() and "3 converted from traditional Chinese" in second.summary()

    def top(query: str) -> str:
        return search_catalog(store, query, k=1)[0].product.id

    assert top("蓝牙耳机") == "tw1" and top("电热毯 双人") == "tw2" and top("机械键盘") == "tw3"
    assert top("无线鼠标") == "1002" and top("手机壳") == "1003"
    assert store.products_by_id(["tw1"])[0].category == "耳机"
