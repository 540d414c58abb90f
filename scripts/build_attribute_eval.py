#!/usr/bin/env python3
"""Build the attribute-parser eval sets, and the Chinese term list the parser ships.

Eval sets (default command)::

    python3 scripts/build_attribute_eval.py            # writes eval/data/attributes_{dev,test}.jsonl

Each line is ``{"query": "...", "lang": "en"|"zh", "template": "E3", "expected": {slot: value}}``. Queries are
generated from templates filled with words from hand-written pools (brands, categories, colours, sizes, prices)
that exist in the demo catalog or the shipped alias table. The dev and test splits use DIFFERENT templates
(different phrasings of each pattern: dev "under $20", test "$20 or less"; dev "50元到100元", test "价格50-100")
and partly different pool words, so the test split is not what the parser was tuned on. Expected values come
from the template, never from the parser. Output is deterministic (random.Random seeded by split and template).

Chinese term list::

    python3 scripts/build_attribute_eval.py lexicon    # writes tools/resources/attribute_terms_zh.tsv

Derived from ``../shared/data`` (research use): lexicon_zh_ecom gazetteers and tagged titles and
catalog_zh_taobao_titles tagged titles. Brands: gazetteer brand terms that are also tagged as a brand in the
titles, are not product terms, and are not common words (jieba frequency <= 100). Categories: gazetteer product
terms also tagged as a product type at least twice, 2-6 Chinese characters, nouns or unknown to jieba, jieba frequency <= 20000.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "eval" / "data"
PER_TEMPLATE = 6
Example = tuple[str, dict]

# ---- pools: (as written in the query, expected canonical value) ----
EN_TECH = [("wireless mouse", "Mouse"), ("mouse", "Mouse"), ("keyboard", "Keyboard"), ("laptop", "Notebook"),
           ("headphones", "Headphones"), ("monitor", "Computer monitor"), ("toner", "Toner cartridge"),
           ("ink cartridges", "Ink cartridge"), ("usb cable", "USB cable"), ("hdmi cable", "HDMI cable"),
           ("smartphone", "Smartphone"), ("tablet", "Tablet"), ("webcam", "Webcam"), ("laser printer", "Laser printer"),
           ("memory card", "Memory card"), ("external hard drive", "External hard drive"),
           ("projector", "Data projector"), ("router", "Wireless router"), ("smartwatch", "Smartwatch"),
           ("phone case", "Mobile phone case"), ("charger", "Mobile device charger"), ("tv", "TV"),
           ("camera", "Camera"), ("microphone", "Microphone"), ("electric kettle", "Electric kettle"),
           ("shaver", "Shaver"), ("backpack", "Backpack"), ("laptops", "Notebook"), ("keyboards", "Keyboard")]
EN_WEAR = [("t-shirt", "t-shirt"), ("hoodie", "hoodie"), ("jeans", "jeans"), ("sneakers", "sneakers"),
           ("running shoes", "running shoes"), ("jacket", "jacket"), ("sweater", "sweater"), ("boots", "boots"),
           ("shorts", "shorts"), ("polo shirt", "polo shirt"), ("t-shirts", "t-shirt"), ("hoodies", "hoodie")]
EN_DRESS = [("dress", "dress"), ("skirt", "skirt"), ("leggings", "leggings")]
EN_TECH_BRANDS = ["HP", "Dell", "Logitech", "Samsung", "Sony", "Canon", "Epson", "Lenovo", "ASUS", "Apple",
                  "Philips", "Brother", "Kingston", "Acer", "LG", "Toshiba", "Microsoft", "Targus", "Kensington"]
EN_WEAR_BRANDS = ["Nike", "Adidas", "Puma", "Uniqlo", "Levi's", "Under Armour", "New Balance", "Zara", "H&M",
                  "Converse", "Vans", "The North Face", "Skechers", "Reebok"]
EN_COLORS = [("black", "black"), ("white", "white"), ("red", "red"), ("blue", "blue"), ("navy", "navy"),
             ("grey", "grey"), ("gray", "grey"), ("green", "green"), ("pink", "pink"), ("silver", "silver"),
             ("gold", "gold"), ("beige", "beige"), ("purple", "purple"), ("yellow", "yellow"), ("brown", "brown"),
             ("orange", "orange"), ("navy blue", "navy"), ("dark blue", "blue"), ("light grey", "grey")]
EN_GENDER = [("men's", "male"), ("mens", "male"), ("women's", "female"), ("womens", "female"),
             ("ladies", "female"), ("boys", "male"), ("girls", "female")]
EN_FOR = [("men", "male"), ("women", "female"), ("him", "male"), ("her", "female")]
EN_LETTER = ["S", "M", "L", "XL", "XXL", "XS"]
EN_SHOE = ["8", "9", "10", "10.5", "11", "42", "7.5"]
EN_PRICES = [15, 20, 25, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1500]
EN_WORDS = {15: "fifteen", 20: "twenty", 25: "twenty-five", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty",
            75: "seventy five", 80: "eighty", 100: "a hundred", 200: "two hundred", 300: "three hundred",
            500: "five hundred"}
EN_MODELS = [("iphone 15 case", "Mobile phone case"), ("27 inch monitor", "Computer monitor"),
             ("64gb usb stick", "USB flash drive"), ("4k tv", "TV"), ("10000mah power bank", "power bank"),
             ("65w charger", "Mobile device charger"), ("1tb external hard drive", "External hard drive"),
             ("galaxy s23 phone case", "Mobile phone case"), ("15.6 inch laptop", "Notebook"),
             ("32gb memory card", "Memory card"), ("2 pack hdmi cable", "HDMI cable"), ("1080p webcam", "Webcam")]

ZH_CATS = ["连衣裙", "t恤", "卫衣", "外套", "手机", "耳机", "键盘", "手表", "运动鞋", "羽绒服", "手机壳", "背包",
           "拖鞋", "毛衣", "衬衫", "牛仔裤", "洗发水", "洗面奶", "电饭煲", "空调", "洗衣机", "路由器", "打印机",
           "行李箱", "围巾", "帽子", "床垫", "插座", "u盘", "睡衣", "棉服", "风衣", "大衣", "音响", "相机",
           "电热毯", "加湿器", "摄像头", "电视", "文胸"]
ZH_WEAR = ["t恤", "卫衣", "外套", "运动鞋", "羽绒服", "毛衣", "衬衫", "牛仔裤", "拖鞋", "睡衣", "棉服", "风衣",
           "大衣", "背心", "马甲", "西装", "打底衫", "针织衫"]
ZH_TECH_BRANDS = [("苹果", "Apple"), ("华为", "Huawei"), ("小米", "Xiaomi"), ("三星", "Samsung"),
                  ("联想", "Lenovo"), ("惠普", "HP"), ("戴尔", "Dell"), ("索尼", "Sony"), ("佳能", "Canon"),
                  ("海尔", "Haier"), ("美的", "Midea"), ("格力", "Gree"), ("飞利浦", "Philips"), ("华硕", "ASUS"),
                  ("罗技", "Logitech"), ("松下", "Panasonic"), ("东芝", "Toshiba")]
ZH_WEAR_BRANDS = [("耐克", "Nike"), ("阿迪达斯", "Adidas"), ("李宁", "Li-Ning"), ("安踏", "Anta"),
                  ("优衣库", "Uniqlo"), ("特步", "Xtep"), ("匡威", "Converse"), ("彪马", "Puma"), ("森马", "Semir"),
                  ("波司登", "Bosideng"), ("海澜之家", "HLA"), ("nike", "Nike"), ("adidas", "Adidas")]
ZH_COLORS = [("红色", "red"), ("蓝色", "blue"), ("黑色", "black"), ("白色", "white"), ("粉色", "pink"),
             ("灰色", "grey"), ("绿色", "green"), ("黄色", "yellow"), ("紫色", "purple"), ("深蓝色", "blue"),
             ("藏青色", "navy"), ("米色", "beige"), ("卡其色", "beige"), ("酒红色", "red"), ("银色", "silver"),
             ("金色", "gold"), ("咖啡色", "brown"), ("军绿色", "green"), ("浅蓝", "blue"), ("白", "white"),
             ("黑", "black"), ("红", "red")]
ZH_GENDER = [("男", "male"), ("女", "female"), ("男士", "male"), ("女士", "female"), ("男生", "male"),
             ("女生", "female"), ("男式", "male"), ("女式", "female")]
ZH_LETTER = ["S", "M", "L", "XL", "XXL", "xl", "m", "l"]
ZH_SHOE = ["36", "37", "38", "39", "40", "41", "42", "43", "44"]
ZH_PRICES = [50, 80, 100, 150, 200, 300, 500, 800, 1000, 1500, 2000, 3000, 5000]
ZH_NUMERALS = {20: "二十", 30: "三十", 50: "五十", 80: "八十", 100: "一百", 150: "一百五", 200: "两百",
               300: "三百", 500: "五百", 800: "八百", 1000: "一千", 1500: "一千五", 2000: "两千", 3000: "三千",
               5000: "五千"}
ZH_MODELS = [("iphone15手机壳", "手机壳"), ("27寸显示器", "显示器"), ("128g u盘", "u盘"), ("1.5匹空调", "空调"),
             ("65寸电视", "电视"), ("10000毫安充电宝", "充电宝"), ("3岁童鞋", "童鞋"), ("4k显示器", "显示器"),
             ("256g手机", "手机"), ("2018款笔记本电脑", "笔记本电脑")]


def pick(rng: random.Random, pool: list):
    """One element of a pool."""
    return rng.choice(pool)


def two_prices(rng: random.Random, prices: list[int]) -> tuple[int, int]:
    """Two different prices, low first."""
    a, b = sorted(rng.sample(prices, 2))
    return a, b


def cased(rng: random.Random, brand: str) -> str:
    """A brand as shoppers type it: often lowercase."""
    return brand.lower() if rng.random() < 0.6 else brand


def around(p: float) -> dict:
    """Expected bounds of 'around p'."""
    return {"price_min": round(p * 0.8, 2), "price_max": round(p * 1.2, 2)}


# ---- English templates ----
def _e_dev(rng: random.Random) -> dict[str, Callable[[], Example]]:
    def e1():
        (c, cv), (k, kv), p = pick(rng, EN_COLORS), pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{c} {k} under ${p}", {"color": cv, "category": kv, "price_max": p, "currency": "USD"}

    def e2():
        b, (k, kv), (lo, hi) = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), two_prices(rng, EN_PRICES)
        return (f"{cased(rng, b)} {k} between {lo} and {hi} dollars",
                {"brand": b, "category": kv, "price_min": lo, "price_max": hi, "currency": "USD"})

    def e3():
        (g, gv), (k, kv) = pick(rng, EN_GENDER), pick(rng, EN_WEAR)
        size = pick(rng, EN_SHOE if "shoe" in k or "sneaker" in k or "boot" in k else EN_LETTER)
        return f"{g} {k} size {size.lower() if rng.random() < .5 else size}", {"gender": gv, "category": kv,
                                                                              "size": size}

    def e4():
        (k, kv), p = pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{k} less than {p}", {"category": kv, "price_max": p}

    def e5():
        b, (k, kv), (c, cv) = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), pick(rng, EN_COLORS)
        return f"{cased(rng, b)} {k} not {c}", {"brand": b, "category": kv, "exclude_colors": [cv]}

    def e6():
        (g, gv), (k, kv), (c, cv), p = pick(rng, EN_GENDER), pick(rng, EN_WEAR), pick(rng, EN_COLORS), pick(
            rng, EN_PRICES)
        return (f"{g} {k} in {c} around ${p}",
                {"gender": gv, "category": kv, "color": cv, **around(p), "currency": "USD"})

    def e7():
        b, (k, kv), p = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{cased(rng, b)} {k} over ${p}", {"brand": b, "category": kv, "price_min": p, "currency": "USD"}

    def e8():
        (k, kv), (lo, hi) = pick(rng, EN_TECH), two_prices(rng, EN_PRICES)
        return f"{k} ${lo}-${hi}", {"category": kv, "price_min": lo, "price_max": hi, "currency": "USD"}

    def e9():
        (c, cv), (k, kv), p = pick(rng, EN_COLORS), pick(rng, EN_WEAR + EN_DRESS), pick(rng, EN_PRICES[:8])
        return f"{c} {k} {p} bucks", {"color": cv, "category": kv, "price_max": p, "currency": "USD"}

    def e10():
        (k, kv), b = pick(rng, EN_WEAR), pick(rng, EN_WEAR_BRANDS)
        return f"{k} no {cased(rng, b)}", {"category": kv, "exclude_brands": [b]}

    def e11():
        (m, mv), p = pick(rng, EN_MODELS), pick(rng, list(EN_WORDS))
        return f"{m} under {EN_WORDS[p]} dollars", {"category": mv, "price_max": p, "currency": "USD"}

    def e12():
        b, (m, mv) = pick(rng, EN_TECH_BRANDS), pick(rng, EN_MODELS)
        return f"{cased(rng, b)} {m}", {"brand": b, "category": mv}

    def e13():
        (k, kv), p, b = pick(rng, EN_WEAR), pick(rng, EN_PRICES), pick(rng, EN_WEAR_BRANDS)
        return f"{cased(rng, b)} {k} above {p}", {"brand": b, "category": kv, "price_min": p}

    return {f"E{i}": f for i, f in enumerate([e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13], 1)}


def _e_test(rng: random.Random) -> dict[str, Callable[[], Example]]:
    def t1():
        (c, cv), (k, kv), p = pick(rng, EN_COLORS), pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return (f"looking for a {c} {k} with a budget of ${p}",
                {"color": cv, "category": kv, "price_max": p, "currency": "USD"})

    def t2():
        b, (k, kv), (lo, hi) = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), two_prices(rng, EN_PRICES)
        return (f"{k} from {cased(rng, b)}, priced {lo} to {hi} usd",
                {"brand": b, "category": kv, "price_min": lo, "price_max": hi, "currency": "USD"})

    def t3():
        b, (k, kv), p = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return (f"{cased(rng, b)} {k} that costs no more than {p} dollars",
                {"brand": b, "category": kv, "price_max": p, "currency": "USD"})

    def t4():
        g, gv = pick(rng, EN_FOR)
        k, kv = pick(rng, EN_WEAR + (EN_DRESS if gv == "female" else []))
        size = pick(rng, EN_SHOE if "shoe" in k or "sneaker" in k or "boot" in k else EN_LETTER)
        return f"{k} for {g} in size {size}", {"gender": gv, "category": kv, "size": size}

    def t5():
        (k, kv), b = pick(rng, EN_TECH), pick(rng, EN_TECH_BRANDS)
        return f"any {k} except {cased(rng, b)}", {"category": kv, "exclude_brands": [b]}

    def t6():
        (k, kv), p = pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{k} at least ${p}", {"category": kv, "price_min": p, "currency": "USD"}

    def t7():
        (c, cv), (k, kv), p = pick(rng, EN_COLORS), pick(rng, EN_WEAR + EN_DRESS), pick(rng, EN_PRICES)
        return f"{c} {k} for about {p} dollars", {"color": cv, "category": kv, **around(p), "currency": "USD"}

    def t8():
        b, (k, kv), (lo, hi) = pick(rng, EN_WEAR_BRANDS), pick(rng, EN_WEAR), two_prices(rng, EN_PRICES)
        return (f"{cased(rng, b)} {k} {lo} to {hi} dollars",
                {"brand": b, "category": kv, "price_min": lo, "price_max": hi, "currency": "USD"})

    def t9():
        (g, gv), (k, kv), size = pick(rng, EN_GENDER), pick(rng, EN_WEAR), pick(rng, ["XL", "XXL", "XS", "2XL"])
        return f"{size.lower()} {g} {k}", {"size": size, "gender": gv, "category": kv}

    def t10():
        (k, kv), (c, cv), b = pick(rng, EN_WEAR), pick(rng, EN_COLORS), pick(rng, EN_WEAR_BRANDS)
        return f"i want {k} in {c} but not {cased(rng, b)}", {"category": kv, "color": cv, "exclude_brands": [b]}

    def t11():
        (k, kv), p = pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{k} ${p} or less", {"category": kv, "price_max": p, "currency": "USD"}

    def t12():
        (m, mv), (c, cv), p = pick(rng, EN_MODELS), pick(rng, EN_COLORS), pick(rng, EN_PRICES)
        return f"{m} in {c}, max ${p}", {"category": mv, "color": cv, "price_max": p, "currency": "USD"}

    def t13():
        (k, kv), p = pick(rng, EN_TECH + EN_WEAR), pick(rng, list(EN_WORDS))
        return f"cheap {k} below {EN_WORDS[p]} bucks", {"category": kv, "price_max": p, "currency": "USD"}

    def t14():
        b, (k, kv), p = pick(rng, EN_TECH_BRANDS), pick(rng, EN_TECH), pick(rng, EN_PRICES)
        return f"{cased(rng, b)} {k} more than {p}", {"brand": b, "category": kv, "price_min": p}

    return {f"T{i}": f for i, f in enumerate([t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14], 1)}


# ---- Chinese templates ----
def _z_dev(rng: random.Random) -> dict[str, Callable[[], Example]]:
    def z1():
        (c, cv), k, (lo, hi) = pick(rng, ZH_COLORS), pick(rng, ZH_CATS), two_prices(rng, ZH_PRICES)
        return (f"{c}{k} {lo}元到{hi}元",
                {"color": cv, "category": k, "price_min": lo, "price_max": hi, "currency": "CNY"})

    def z2():
        (b, bv), k, p = pick(rng, ZH_TECH_BRANDS), pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"{b}{k} {p}以内", {"brand": bv, "category": k, "price_max": p}

    def z3():
        (g, gv), k = pick(rng, ZH_GENDER), pick(rng, ZH_WEAR)
        size = pick(rng, ZH_SHOE if "鞋" in k else ZH_LETTER)
        return f"{g}{k} {size}码", {"gender": gv, "category": k, "size": size.upper()}

    def z4():
        k, p = pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"{k} 低于{p}", {"category": k, "price_max": p}

    def z5():
        (b, bv), k, p = pick(rng, ZH_WEAR_BRANDS), pick(rng, ZH_WEAR), pick(rng, ZH_PRICES)
        return f"{b} {k} {p}元以上", {"brand": bv, "category": k, "price_min": p, "currency": "CNY"}

    def z6():
        k, (lo, hi) = pick(rng, ZH_CATS), two_prices(rng, list(ZH_NUMERALS))
        return (f"{k} {ZH_NUMERALS[lo]}到{ZH_NUMERALS[hi]}",
                {"category": k, "price_min": lo, "price_max": hi})

    def z7():
        k, (c, cv) = pick(rng, ZH_CATS), pick(rng, ZH_COLORS[:19])
        return f"{k} 不要{c}", {"category": k, "exclude_colors": [cv]}

    def z8():
        k, (b, bv) = pick(rng, ZH_CATS), pick(rng, ZH_TECH_BRANDS + ZH_WEAR_BRANDS)
        return f"{k} 不要{b}的", {"category": k, "exclude_brands": [bv]}

    def z9():
        (b, bv), k, p = pick(rng, ZH_TECH_BRANDS), pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"{b}{k} {p}左右", {"brand": bv, "category": k, **around(p)}

    def z10():
        (c, cv), (g, gv), k, p = pick(rng, ZH_COLORS), pick(rng, ZH_GENDER), pick(rng, ZH_WEAR), pick(
            rng, ZH_PRICES[:8])
        return (f"{c}{g}{k} {p}块以内",
                {"color": cv, "gender": gv, "category": k, "price_max": p, "currency": "CNY"})

    def z11():
        k, p = pick(rng, ZH_CATS), pick(rng, [1, 1.5, 2, 3, 5])
        return f"{k} {p}k以内", {"category": k, "price_max": p * 1000}

    def z12():
        k, p = pick(rng, ZH_CATS), pick(rng, list(ZH_NUMERALS))
        return f"{ZH_NUMERALS[p]}元以内的{k}", {"category": k, "price_max": p, "currency": "CNY"}

    def z13():
        (b, bv), (m, mv) = pick(rng, ZH_TECH_BRANDS), pick(rng, ZH_MODELS[1:])
        return f"{b} {m}", {"brand": bv, "category": mv}

    return {f"Z{i}": f for i, f in enumerate([z1, z2, z3, z4, z5, z6, z7, z8, z9, z10, z11, z12, z13], 1)}


def _z_test(rng: random.Random) -> dict[str, Callable[[], Example]]:
    def s1():
        (b, bv), k, p = pick(rng, ZH_TECH_BRANDS), pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"想买{b}的{k}，预算{p}", {"brand": bv, "category": k, "price_max": p}

    def s2():
        k, (lo, hi) = pick(rng, ZH_CATS), two_prices(rng, ZH_PRICES)
        return f"{k} 价格{lo}-{hi}", {"category": k, "price_min": lo, "price_max": hi}

    def s3():
        k, (c, cv), p = pick(rng, ZH_CATS), pick(rng, ZH_COLORS[:19]), pick(rng, ZH_PRICES)
        return f"{k}{c}的 不超过{p}块", {"category": k, "color": cv, "price_max": p, "currency": "CNY"}

    def s4():
        g, gv = pick(rng, [("男", "male"), ("女", "female")])
        k, size, (c, cv) = pick(rng, ZH_WEAR), pick(rng, ZH_LETTER), pick(rng, ZH_COLORS[:19])
        return f"{g}款{k} {size}码 {c}", {"gender": gv, "category": k, "size": size.upper(), "color": cv}

    def s5():
        k, p = pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"有没有{p}块钱左右的{k}", {"category": k, **around(p), "currency": "CNY"}

    def s6():
        k, (c, cv) = pick(rng, ZH_CATS), pick(rng, ZH_COLORS[:19])
        return f"{k} 除了{c}都行", {"category": k, "exclude_colors": [cv]}

    def s7():
        (b, bv), k, (c, cv) = pick(rng, ZH_WEAR_BRANDS), pick(rng, ZH_WEAR), pick(rng, ZH_COLORS[:19])
        return f"{b}{k} 别要{c}的", {"brand": bv, "category": k, "exclude_colors": [cv]}

    def s8():
        k, w = pick(rng, ["空调", "电视", "相机", "手机", "床垫", "洗衣机"]), pick(rng, [1, 1.5, 2])
        return f"{k} {w}万以上", {"category": k, "price_min": w * 10000}

    def s9():
        k, p, (g, gv) = pick(rng, ZH_WEAR), pick(rng, ZH_PRICES), pick(rng, ZH_GENDER)
        return f"{k}{p}元以下 {g}", {"category": k, "price_max": p, "currency": "CNY", "gender": gv}

    def s10():
        (b, bv), k, p = pick(rng, [("nike", "Nike"), ("adidas", "Adidas"), ("puma", "Puma"), ("vans", "Vans")]), \
            pick(rng, ZH_WEAR), pick(rng, ZH_PRICES)
        return f"{b}{k} 最多{p}", {"brand": bv, "category": k, "price_max": p}

    def s11():
        (m, mv), p = pick(rng, ZH_MODELS), pick(rng, ZH_PRICES)
        return f"{m} {p}以内", {"category": mv, "price_max": p}

    def s12():
        k, p = pick(rng, ZH_CATS), pick(rng, ZH_PRICES)
        return f"{k} 大概{p}块", {"category": k, **around(p), "currency": "CNY"}

    def s13():
        (lo, hi), (b, bv), k = two_prices(rng, list(ZH_NUMERALS)), pick(rng, ZH_TECH_BRANDS), pick(rng, ZH_CATS)
        return (f"{ZH_NUMERALS[lo]}至{ZH_NUMERALS[hi]}元的{b}{k}",
                {"price_min": lo, "price_max": hi, "currency": "CNY", "brand": bv, "category": k})

    def s14():
        (c, cv), k, (b, bv) = pick(rng, ZH_COLORS), pick(rng, ZH_CATS), pick(rng, ZH_TECH_BRANDS)
        return f"{c}{k} 非{b}", {"color": cv, "category": k, "exclude_brands": [bv]}

    return {f"S{i}": f for i, f in enumerate([s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14], 1)}


SPLITS = {"dev": (("en", _e_dev), ("zh", _z_dev)), "test": (("en", _e_test), ("zh", _z_test))}


def build_split(split: str) -> list[dict]:
    """Every example of one split: PER_TEMPLATE distinct queries per template."""
    rows: list[dict] = []
    for lang, make in SPLITS[split]:
        for name in make(random.Random(0)):
            rng = random.Random(f"{split}-{name}")
            template = make(rng)[name]
            seen: set[str] = set()
            for _ in range(PER_TEMPLATE * 20):
                query, expected = template()
                if query not in seen:
                    seen.add(query)
                    rows.append({"query": query, "lang": lang, "template": name, "expected": expected})
                if len(seen) == PER_TEMPLATE:
                    break
    return rows


def write_eval() -> None:
    """Write both splits and print their sizes."""
    for split in SPLITS:
        rows = build_split(split)
        path = OUT / f"attributes_{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        langs = Counter(r["lang"] for r in rows)
        print(f"{path.relative_to(ROOT)}: {len(rows)} queries ({langs['en']} en, {langs['zh']} zh)")


# ---- Chinese term list for the parser ----
def _tagged_spans(path: str) -> list[tuple[str, str]]:
    """(tag, text) spans of a char-per-line BIO/BIOES file."""
    spans: list[tuple[str, str]] = []
    tag, buf = None, ""
    for line in [*Path(path).read_text(encoding="utf-8").splitlines(), ""]:
        parts = line.split()
        label = parts[-1] if parts else "O"
        char = parts[0] if len(parts) > 1 else " "
        if label[:2] in ("B-", "S-") or label == "O" or not parts:
            if tag and buf.strip():
                spans.append((tag, buf.strip().lower()))
            tag, buf = (label[2:], char) if label[:2] in ("B-", "S-") else (None, "")
            if label.startswith("S-"):
                spans.append((tag, char.lower()))
                tag, buf = None, ""
        else:
            buf += char
    return spans


def write_lexicon(data_dir: Path) -> None:
    """Derive tools/resources/attribute_terms_zh.tsv from the shared data (see the module docstring)."""
    import jieba

    freq: dict[str, tuple[int, str]] = {}
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as fh:
        for line in fh:
            word, count, pos = line.split()
            freq[word] = (int(count), pos)
    tags: Counter[tuple[str, str]] = Counter()
    files = glob.glob(str(data_dir / "lexicon_zh_ecom/data/ecommerce/*.bieos")) + glob.glob(
        str(data_dir / "catalog_zh_taobao_titles/data/ecommerce/*.txt"))
    for path in sorted(files):
        for tag, text in _tagged_spans(path):
            tags[({"HPPX": "HP", "HCCX": "HC"}.get(tag, tag), text)] += 1
    brand_dic = _dic(data_dir, "brand")
    product_dic = _dic(data_dir, "product")
    tagged_hp = {t for (k, t) in tags if k == "HP"}
    tagged_hc = {t for (k, t) in tags if k == "HC"}
    cjk = re.compile(r"^[\u4e00-\u9fff]{2,8}$")
    latin = re.compile(r"^[a-z][a-z0-9&'.\- ]{3,20}$")
    common_latin = {"bear", "only", "wraps", "pony", "amy", "sofia", "bonny", "tata", "power", "pearl"}
    brands = sorted(t for t in tagged_hp & brand_dic - product_dic - tagged_hc
                    if (cjk.match(t) or (latin.match(t) and tags[("HP", t)] >= 2 and t not in common_latin))
                    and freq.get(t, (0, ""))[0] <= 100)
    nouns = {"n", "nz", "vn", "nrt", ""}
    cats = sorted(t for t in tagged_hc & product_dic - brand_dic - tagged_hp
                  if tags[("HC", t)] >= 2 and cjk.match(t) and len(t) <= 6 and freq.get(t, (0, ""))[1] in nouns
                  and freq.get(t, (0, ""))[0] <= 20000)
    out = ROOT / "tools" / "resources" / "attribute_terms_zh.tsv"
    with out.open("w", encoding="utf-8") as fh:
        fh.write("# kind<TAB>term - derived by scripts/build_attribute_eval.py lexicon (research use, SOURCE.md)\n")
        fh.writelines(f"brand\t{t}\n" for t in brands)
        fh.writelines(f"category\t{t}\n" for t in cats)
    print(f"{out.relative_to(ROOT)}: {len(brands)} brands, {len(cats)} categories")


def _dic(data_dir: Path, kind: str) -> set[str]:
    terms: set[str] = set()
    for path in glob.glob(str(data_dir / f"lexicon_zh_ecom/data/dics/{kind}*.dic")):
        terms |= {line.strip().lower() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()}
    return terms


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="eval", choices=["eval", "lexicon"])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SHOPQUERY_DATA", ROOT.parent / "shared" / "data")))
    args = parser.parse_args()
    if args.what == "lexicon":
        write_lexicon(args.data_dir)
    else:
        write_eval()


if __name__ == "__main__":
    main()
