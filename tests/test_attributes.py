"""Attribute parser: prices, brands (zh↔en), colours, sizes, gender, negations, non-price numbers, bad input,
the LangChain tool and the attributes eval suite."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import assistant
from assistant.agent_facts import kind_label
from eval.datasets import load_jsonl
from eval.suites import attributes as attributes_suite
from tools.attributes import AttributeParser, ParsedAttributes, make_attributes_tool
from tools.core.types import Product, SearchFilters
from tools.number_words import find_numbers, parse_en_number_words, parse_zh_number

DEMO = Path(assistant.__file__).resolve().parent / "data" / "demo_catalog.jsonl"
FIXTURE = [
    Product(id="f1", title="Logitech M185 wireless mouse", brand="Logitech", category="Mouse", price=19.99,
            currency="USD", color="grey"),
    Product(id="f2", title="夏季纯棉蓝色T恤 男 短袖", brand="优衣库", category="T恤", price=79.0, currency="CNY",
            color="blue"),
    Product(id="f3", title="红色连衣裙 女 雪纺", brand="ONLY", category="连衣裙", price=299.0, currency="CNY",
            color="red"),
    Product(id="f4", title="耐克 跑步鞋 男", brand="耐克", category="跑步鞋", price=499.0, currency="CNY"),
    Product(id="f5", title="Nike running shoes", brand="Nike", category="Running shoes", price=89.0, currency="USD"),
    Product(id="f6", title="华为 Mate 60 手机", brand="华为", category="手机", price=5999.0, currency="CNY",
            color="black"),
]


@pytest.fixture(scope="session")
def parser() -> AttributeParser:
    products = [Product.model_validate_json(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    return AttributeParser.from_products(FIXTURE + products)


def slots(parsed: ParsedAttributes) -> dict:
    """The filled slots of a parse, without rest and spans."""
    return parsed.model_dump(exclude_defaults=True, exclude={"rest", "spans"})


# ---------------------------------------------------------------- prices
@pytest.mark.parametrize("query, low, high, currency", [
    ("蓝色T恤 50元到100元", 50, 100, "CNY"),
    ("200以内的耳机", None, 200, None),
    ("低于400的键盘", None, 400, None),
    ("1000元以上的手机", 1000, None, "CNY"),
    ("两百到五百的连衣裙", 200, 500, None),
    ("1.5k以内 手机", None, 1500, None),
    ("二十元以内的数据线", None, 20, "CNY"),
    ("相机 2w以上", 20000, None, None),
    ("空调 1.5万以下", None, 15000, None),
    ("一千二以内的手机", None, 1200, None),
    ("耳机 100块以内", None, 100, "CNY"),
    ("不超过200块", None, 200, "CNY"),
    ("不低于100元", 100, None, "CNY"),
    ("价格在100到200之间", 100, 200, None),
    ("预算3000 笔记本电脑", None, 3000, None),
    ("手机 1000~2000", 1000, 2000, None),
    ("5到8千的电视", 5000, 8000, None),
    ("100以上200以下", 100, 200, None),
    ("不要超过200", None, 200, None),
    ("under $20", None, 20, "USD"),
    ("headphones between 50 and 100 dollars", 50, 100, "USD"),
    ("$60-$90 sneakers", 60, 90, "USD"),
    ("laptop less than 500", None, 500, None),
    ("monitor over $200", 200, None, "USD"),
    ("tv above 300", 300, None, None),
    ("t-shirt under twenty dollars", None, 20, "USD"),
    ("socks 15 bucks", None, 15, "USD"),
    ("20-30 dollars", 20, 30, "USD"),
    ("$50 or less", None, 50, "USD"),
    ("at least $100", 100, None, "USD"),
    ("no more than 80 dollars", None, 80, "USD"),
    ("over a hundred bucks", 100, None, "USD"),
    ("1-2k dollars", 1000, 2000, "USD"),
    ("$1,299 laptop", None, 1299, "USD"),
    ("￥199以内", None, 199, "CNY"),
    ("$200+ monitor", 200, None, "USD"),
])
def test_price_phrases(parser, query, low, high, currency):
    parsed = parser.parse(query)
    assert (parsed.price_min, parsed.price_max, parsed.currency) == (low, high, currency)


@pytest.mark.parametrize("query, x", [("300左右", 300), ("耳机 大概200块", 200), ("800上下", 800),
                                      ("around $50", 50), ("about 25 dollars", 25), ("roughly 200 usd", 200)])
def test_around_means_twenty_percent_either_side(parser, query, x):
    parsed = parser.parse(query)
    assert parsed.price_min == pytest.approx(0.8 * x) and parsed.price_max == pytest.approx(1.2 * x)


@pytest.mark.parametrize("query", [
    "iphone 15", "iphone 15 pro max 256gb", "4 GB ram", "27 inch monitor", "10000mah power bank", "65w charger",
    "1080p webcam", "2 pack hdmi cable", "三到五岁 童鞋", "满300减50", "100-200", "1000 to 2000", "一块手表",
    "5号电池", "15.6寸笔记本", "rtx 4070", "从0到1开公司", "2022元旦灯笼", "一起学英文", "小米14 12+256",
])
def test_numbers_without_a_price_cue_are_not_prices(parser, query):
    parsed = parser.parse(query)
    assert parsed.price_min is None and parsed.price_max is None and parsed.currency is None


def test_a_unit_after_the_number_blocks_even_a_price_cue(parser):
    assert parser.parse("usb stick up to 2tb").price_max is None
    assert parser.parse("under 5 inches").price_max is None
    assert parser.parse("ram under 500").price_max == 500


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("text, value", [("两百", 200), ("五百", 500), ("一千二", 1200), ("三千五", 3500),
                                         ("一万五", 15000), ("1.5万", 15000), ("3千5", 3500), ("十五", 15),
                                         ("二十", 20), ("一千零五十", 1050), ("三百六十五", 365), ("百", 100)])
def test_chinese_numerals(text, value):
    assert parse_zh_number(text)[0] == value


def test_not_a_chinese_numeral():
    assert parse_zh_number("一二") is None


@pytest.mark.parametrize("words, value", [("twenty", 20), ("twenty five", 25), ("a hundred", 100),
                                          ("two hundred and fifty", 250), ("three thousand", 3000)])
def test_english_number_words(words, value):
    assert parse_en_number_words(words.split()) == value


def test_number_spans_carry_units_and_multipliers():
    text = "32gb 4 gb 1.5k 2w 42码"
    found = {text[s.start:s.end]: (s.value, s.unit) for s in find_numbers(text)}
    assert found == {"32": (32, "gb"), "4": (4, "gb"), "1.5k": (1500, None), "2w": (20000, None),
                     "42": (42, "码")}


# ---------------------------------------------------------------- brands
@pytest.mark.parametrize("zh, en", [("苹果", "apple"), ("耐克", "nike"), ("华为", "huawei"), ("三星", "samsung"),
                                    ("阿迪达斯", "adidas"), ("联想", "lenovo"), ("惠普", "hp"), ("兰蔻", "lancome")])
def test_chinese_and_english_brand_names_are_one_brand(parser, zh, en):
    a, b = parser.parse(f"{zh} 手机壳"), parser.parse(f"{en} phone case")
    assert a.brand is not None and a.brand == b.brand
    assert parser.canonical("brand", zh) == parser.canonical("brand", en)


def test_brand_filter_lists_every_catalog_spelling(parser):
    filters = parser.parse("nike running shoes").to_filters()
    assert {"nike", "耐克"} <= set(filters.brands)


def test_brand_is_spelled_as_the_catalog_spells_it(parser):
    assert parser.parse("hp toner").brand == "HP"
    assert parser.parse("logitech mouse").brand == "Logitech"


@pytest.mark.parametrize("query", ["新鲜苹果 5斤", "红富士苹果", "小米粥", "很美的裙子", "移动电源 20000毫安"])
def test_brand_words_in_another_sense_are_not_brands(parser, query):
    assert parser.parse(query).brand is None


def test_weak_brand_inside_an_unknown_word_is_ignored(parser):
    assert parser.parse("艾康美猫罐头").brand is None


def test_mixed_script_brand_touching_a_category(parser):
    parsed = parser.parse("vanst恤 最多150")
    assert (parsed.brand, parsed.category, parsed.price_max) == ("Vans", "t恤", 150)


# ---------------------------------------------------------------- colours
@pytest.mark.parametrize("query, color", [
    ("蓝色T恤", "blue"), ("蓝T恤", "blue"), ("深蓝色外套", "blue"), ("藏青色西装", "navy"), ("白T恤 女", "white"),
    ("酒红色毛衣", "red"), ("米色风衣", "beige"), ("black mouse", "black"), ("gray hoodie", "grey"),
    ("navy blue jacket", "navy"), ("rose gold watch", "gold"), ("piano black tv", "black"), ("要红的", "red"),
])
def test_colours_are_basic_english(parser, query, color):
    assert parser.parse(query).color == color


@pytest.mark.parametrize("query", ["蓝牙耳机", "奶粉 800以内", "双燕无铝泡打粉", "红酒 200元", "口红", "黑白打印机",
                                   "green tea", "红米手机", "金属书架", "white noise machine"])
def test_colour_characters_inside_words_are_not_colours(parser, query):
    assert parser.parse(query).color is None


def test_navy_filter_also_admits_blue(parser):
    assert set(parser.parse("藏青色卫衣").to_filters().colors) == {"navy", "blue"}


def test_several_colours_all_go_to_the_filter(parser):
    parsed = parser.parse("red or blue dress")
    assert parsed.color == "red" and set(parsed.to_filters().colors) == {"red", "blue"}


# ---------------------------------------------------------------- sizes and gender
@pytest.mark.parametrize("query, size", [
    ("男士t恤 xl", "XL"), ("42码 女鞋", "42"), ("xl码卫衣", "XL"), ("M号 t恤", "M"), ("L码", "L"),
    ("women's jeans size 8", "8"), ("size 9.5 boots", "9.5"), ("US 9 sneakers", "9"), ("EU 42 shoes", "42"),
    ("2T toddler jacket", "2T"), ("men jeans 32 waist", "32"), ("2xl hoodie", "2XL"), ("size small dress", "S"),
    ("37~39码 拖鞋", "37-39"), ("42号 运动鞋", "42"),
])
def test_sizes_as_written(parser, query, size):
    assert parser.parse(query).size == size


@pytest.mark.parametrize("query", ["iphone xs 后盖", "5号电池", "球衣 7号", "99号记号笔", "3.5t叉车", "40x32弯头"])
def test_numbers_that_are_not_sizes(parser, query):
    assert parser.parse(query).size is None


@pytest.mark.parametrize("query, gender", [
    ("男 外套", "male"), ("女 连衣裙", "female"), ("男士t恤", "male"), ("女士手表", "female"), ("男款卫衣", "male"),
    ("女生 外套", "female"), ("men's hoodie", "male"), ("womens jeans", "female"), ("ladies watch", "female"),
    ("running shoes for men", "male"), ("gift for her", "female"), ("女鞋 37码", "female"),
])
def test_gender(parser, query, gender):
    assert parser.parse(query).gender == gender


@pytest.mark.parametrize("query", ["男女同款卫衣", "unisex hoodie", "情侣手表", "男 女 外套", "kids shoes"])
def test_unisex_or_both_means_no_gender(parser, query):
    assert parser.parse(query).gender is None


# ---------------------------------------------------------------- negations
@pytest.mark.parametrize("query, colors, brands", [
    ("不要红色", ["red"], []), ("不要红色的连衣裙", ["red"], []), ("不要兰蔻 口红", [], ["lancome"]),
    ("dress not red", ["red"], []), ("no red dress", ["red"], []), ("shoes without black", ["black"], []),
    ("除了苹果 手机", [], ["apple"]), ("非华为手机", [], ["huawei"]), ("不要红色和黑色", ["red", "black"], []),
    ("not black or white", ["black", "white"], []), ("phone except samsung", [], ["samsung"]),
    ("不要苹果三星", [], ["apple", "samsung"]), ("黑色的不要", ["black"], []), ("连衣裙 除了白色都行", ["white"], []),
    ("nike 运动鞋 别要阿迪", [], ["adidas"]), ("laptop other than apple", [], ["apple"]),
])
def test_negations(parser, query, colors, brands):
    parsed = parser.parse(query)
    assert parsed.exclude_colors == colors
    assert [parser.canonical("brand", b) for b in parsed.exclude_brands] == [
        parser.canonical("brand", b) for b in brands]


def test_negated_and_wanted_in_one_query(parser):
    parsed = parser.parse("要红的 不要蓝的")
    assert parsed.color == "red" and parsed.exclude_colors == ["blue"]
    parsed = parser.parse("黑色 运动鞋 不要耐克")
    assert parsed.color == "black" and parser.canonical("brand", parsed.exclude_brands[0]) == "nike"
    assert parsed.brand is None
    assert {"nike", "耐克"} <= set(parsed.to_filters().exclude_brands)


# ---------------------------------------------------------------- categories, rest, filters
@pytest.mark.parametrize("query, category", [
    ("蓝色T恤 50元到100元", "t恤"), ("black wireless mouse", "Mouse"), ("cheap laptops", "Notebook"),
    ("iphone 15 case under twenty dollars", "Mobile phone case"), ("笔记本电脑包", "电脑包"),
    ("laptop bag for 15.6 inch laptop", "Notebook case"), ("hp toner", "Toner cartridge"), ("连衣裙 女", "连衣裙"),
])
def test_category(parser, query, category):
    assert parser.parse(query).category == category


def test_the_worked_example(parser):
    parsed = parser.parse("蓝色T恤 50元到100元")
    assert slots(parsed) == {"category": "t恤", "color": "blue", "price_min": 50, "price_max": 100,
                             "currency": "CNY"}
    assert parsed.rest == "t恤"
    assert parsed.spans["color"] == ["蓝色"] and parsed.spans["price_min"] == ["50元到100元"]


def test_rest_drops_slots_and_filler(parser):
    assert parser.parse("i want a black wireless mouse under $30").rest == "wireless mouse"
    assert parser.parse("我想买200以内的蓝牙耳机").rest == "蓝牙耳机"


def test_to_filters(parser):
    filters = parser.parse("logitech grey mouse under $30 not black").to_filters()
    assert isinstance(filters, SearchFilters)
    assert filters.categories == ["Mouse"] and filters.colors == ["grey"] and filters.price_max == 30
    assert "logitech" in [b.casefold() for b in filters.brands] and filters.exclude_colors == ["black"]


def test_category_the_catalog_lacks_is_not_a_filter(parser):
    parsed = parser.parse("blue sneakers")
    assert parsed.category == "sneakers" and parsed.to_filters().categories == []


def test_filters_of_a_parse_built_elsewhere_use_its_fields():
    filters = ParsedAttributes(category="Mouse", brand="HP", color="red").to_filters()
    assert (filters.categories, filters.brands, filters.colors) == (["Mouse"], ["HP"], ["red"])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("query", ["", "   ", "🙂👟🎁", "\x00\x01\x02", "x" * 5000, "红色" * 300, None, 123,
                                   b"bytes"])
def test_bad_input_gives_an_empty_result(parser, query):
    parsed = parser.parse(query)
    assert parsed.is_empty() and slots(parsed) == {} and parsed.rest == ""


def test_emoji_and_control_characters_around_a_real_query(parser):
    parsed = parser.parse("👟 nike\x07 跑鞋 🙂 300以内")
    assert parsed.brand is not None and parsed.price_max == 300


def test_catalog_products_without_brand_or_category():
    parser = AttributeParser.from_products([Product(id="1", title="something")])
    assert parser.parse("red nike shoes under $50").price_max == 50


# ---------------------------------------------------------------- tool, schema, speed
def test_tool_schema_and_call(parser):
    tool = make_attributes_tool(parser)
    assert tool.name == "parse_attributes"
    schema = tool.args_schema.model_json_schema()
    assert schema["required"] == ["query"] and schema["properties"]["query"]["type"] == "string"
    out = tool.invoke({"query": "蓝色T恤 50元到100元"})
    assert out["color"] == "blue" and out["price_max"] == 100


def test_output_model_is_a_json_schema():
    schema = ParsedAttributes.model_json_schema()
    assert {"category", "brand", "color", "size", "gender", "price_min", "price_max", "currency",
            "exclude_colors", "exclude_brands", "rest", "spans"} <= set(schema["properties"])
    assert "_brand_filter" not in json.dumps(schema)


def test_build_and_parse_are_fast(parser):
    products = [Product.model_validate_json(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    start = time.perf_counter()
    AttributeParser.from_products(products * 4)
    assert time.perf_counter() - start < 2.0
    times = []
    for query in ["蓝色T恤 50元到100元", "nike running shoes under $100 size 10 for men not black"] * 50:
        start = time.perf_counter()
        parser.parse(query)
        times.append(time.perf_counter() - start)
    assert sorted(times)[len(times) // 2] < 0.005


# ---------------------------------------------------------------- eval suite
def _dataset(tmp_path, lines):
    path = tmp_path / "attrs.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return load_jsonl(path, attributes_suite.Case)


def test_eval_suite_scores_slots(parser, tmp_path):
    data = _dataset(tmp_path, [
        {"query": "蓝色T恤 50元到100元", "lang": "zh", "expected": {"color": "蓝色", "category": "T恤", "price_min": 50,
                                                               "price_max": 100, "currency": "CNY"}},
        {"query": "nike shoes not red", "lang": "en", "expected": {"brand": "耐克", "category": "shoes",
                                                               "exclude_colors": "red"}},
        {"query": "red dress", "lang": "en", "expected": {"color": "blue", "category": "dress"}},
    ])
    result = attributes_suite.run(SimpleNamespace(attribute_parser=parser), data, errors=5)
    assert result["queries"] == 3 and result["failed"] == 0
    assert result["exact_match"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["color_precision"] == 0.5 and result["color_recall"] == 0.5
    assert result["brand_f1"] == 1.0 and result["price_min_f1"] == 1.0 and result["exclude_colors_f1"] == 1.0
    assert "size" not in result["slots"]
    assert result["p95_ms"] >= result["p50_ms"] >= 0
    assert result["errors"][0]["query"] == "red dress"


def test_eval_suite_rejects_unknown_slots(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "a", "expected": {"flavour": "x"}}\n{"query": "b", "expected": {"colour": "red"}}\n')
    data = load_jsonl(path, attributes_suite.Case)
    assert len(data.cases) == 1 and data.cases[0].expected == {"color": "red"} and data.rejected[0][0] == 1


def test_eval_suite_counts_a_crashing_parser_as_failed(tmp_path):
    class Broken:
        def parse(self, query):
            if query != "warm up 200元以内":
                raise RuntimeError("boom")
            return ParsedAttributes()

    data = _dataset(tmp_path, [{"query": "red dress", "expected": {"color": "red"}}])
    result = attributes_suite.run(SimpleNamespace(attribute_parser=Broken()), data)
    assert result["failed"] == 1 and result["color_recall"] == 0.0


@pytest.mark.parametrize("split", ["dev", "test", "challenge"])
def test_shipped_eval_sets_meet_the_target(parser, split):
    path = Path(__file__).resolve().parents[1] / "eval" / "data" / f"attributes_{split}.jsonl"
    result = attributes_suite.run(SimpleNamespace(attribute_parser=parser), load_jsonl(path, attributes_suite.Case))
    assert result["slot_f1"] >= 0.9 and result["failed"] == 0


def test_the_brand_filter_starts_with_the_display_name_replies_use():
    lex_parser = AttributeParser.from_products([Product(id="1", title="Logitech M185 mouse", brand="Logitech")])
    for query in ("only logitech", "only logi", "罗技鼠标"):
        assert lex_parser.parse(query).to_filters().brands[0] == "Logitech", query


def test_kind_names_in_replies_use_english_plurals():
    assert kind_label("Mouse", "en", 5) == "mice" and kind_label("Mouse", "en", 1) == "mouse"
    assert kind_label("Keyboard", "en", 2) == "keyboards" and kind_label("mouse pad", "en", 3) == "mouse pads"
    assert kind_label("跑步鞋", "zh", 3) == "跑步鞋"
