"""Build tools/resources/intent_{train,dev}.jsonl and eval/data/intent_test.jsonl deterministically from the shared data and written templates.

Sources: Bitext customer-support utterances (20k file -> train/dev by hash, 8k file -> test), CLINC150 (its own
train/val/test splits, out-of-scope splits included), real Taobao queries of the Multi-CPR log (hash split) and
written zh + en templates filled with demo-catalog product names (every 5th template test-only, the next dev-only).

    .venv/bin/python scripts/build_intent_data.py [--shared ../shared/data] [--out eval/data] [--train-out tools/resources]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.intent_data import (  # noqa: E402
    LABELS,
    SPLITS,
    IntentExample,
    cap_per_group,
    cap_per_label,
    dedupe,
    expand_templates,
    hash_split,
    read_bitext,
    read_clinc,
    read_querylog,
    template_split,
    write_jsonl,
)

CAP = {"train": 420, "dev": 70, "test": 110}      # per label and split, all sources together
SOURCE_CAP = {"train": 160, "dev": 30, "test": 45}  # per (label, upstream intent) group of the public sets
QUERYLOG_SHARE = {"train": 150, "dev": 25, "test": 35}
PER_TEMPLATE = {"train": 12, "dev": 4, "test": 5}
DECORATIONS = {"en": (["", "", "", "hey ", "hi, ", "excuse me, ", "quick question, ", "um "],
                      ["", "", "", "?", " please", " thanks", "!", " asap"]),
               "zh": (["", "", "", "请问", "你好，", "麻烦问下", "亲，", "那个", "客服，"],
                      ["", "", "", "？", "呢", "呀", "，谢谢", "!", "啊"])}
EXTRA_EN_NAMES = ["iPhone 15", "Galaxy S24", "MacBook Air", "AirPods Pro", "Kindle Paperwhite", "Sony WH-1000XM5",
                  "Dell XPS 13", "iPad mini", "Nintendo Switch", "Pixel 8"]
EXTRA_ZH_NAMES = ["iPhone 15", "华为Mate 60", "小米14", "戴森吹风机", "美的电饭煲", "耐克跑鞋", "优衣库羽绒服",
                  "兰蔻小黑瓶", "海尔冰箱", "联想小新笔记本"]


# Written examples: (label, lang) -> templates. Slots: {a} {b} product names, {c} category, {p} price,
# {n} order number. Every 5th template (index 0, 5, 10 ...) is used only for test, the next only for dev.
TEMPLATES: dict[tuple[str, str], list[str]] = {
    ("product_search", "en"): [
        "{c}", "{a}", "cheap {c}", "{c} under {p} dollars", "black {c}", "show me {c}", "looking for a {c}",
        "i need a {c}", "find {a}", "wireless {c}", "best price {c}", "{c} for kids", "search {c}",
        "do you sell {c}", "{c} on sale", "new {c} 2026", "any {c} in stock", "portable {c}", "{a} in blue",
        "where can i find a {c}", "{c} with free shipping", "{a} price", "refurbished {c}",
        "{c} size large", "womens {c}", "2 pack {c}", "{c} near me", "{c} deals"
    ],
    ("product_search", "zh"): [
        "{c}", "{a}", "便宜的{c}", "{p}元以内的{c}", "黑色{c}", "找一下{c}", "我想找{c}", "有没有{c}", "搜索{a}", "{c} 新款",
        "{c}女款", "{c} 包邮", "儿童{c}", "{a} 正品", "看看{c}", "{c}男 夏季", "{p}左右的{c}", "帮我搜{c}", "{c}有货吗", "大码{c}",
        "{c}推荐款式", "{a}旗舰店", "正品{c}", "{c} 2026新款", "{c}套装", "学生{c}", "{c}批发", "{c} 白色"
    ],
    ("compare", "en"): [
        "compare {a} and {b}", "{a} vs {b}", "which is better, {a} or {b}",
        "difference between {a} and {b}", "{a} or {b}?", "how does {a} compare to {b}",
        "is {a} better than {b}", "{a} versus {b} battery life", "compare prices of {a} and {b}",
        "should i get {a} or {b}", "what's the difference between {a} and {b}", "{a} compared with {b}",
        "pros and cons of {a} vs {b}", "which one is cheaper, {a} or {b}", "side by side {a} and {b}",
        "{a} vs {b} which one to choose", "{a} or {b}, which should i pick", "is {a} worth it over {b}",
        "{a} against {b}", "compare {a} with {b} for gaming", "how is {a} different from {b}",
        "{a} vs {b} price and specs", "which has a better camera, {a} or {b}",
        "tell me the differences: {a}, {b}"
    ],
    ("compare", "zh"): [
        "比较 {a} 和 {b}", "{a}和{b}哪个好", "{a} vs {b}", "{a}跟{b}有什么区别", "{a}还是{b}", "{a}和{b}对比一下", "{a}比{b}好在哪",
        "{a}和{b}选哪个", "{a}与{b}的差别", "{a}和{b}哪个更划算", "帮我对比{a}和{b}", "{a}和{b}哪个性价比高", "{a}对比{b}续航",
        "买{a}还是买{b}好", "{a}和{b}有啥不同", "{a}和{b}哪款更值得买", "{a}和{b}比起来怎么样", "{a}、{b}哪个耐用", "{a}跟{b}比哪个强",
        "{a}和{b}怎么选", "{a}与{b}对比评测", "{a}好还是{b}好", "{a}和{b}差在哪里", "{a}和{b}参数对比"
    ],
    ("purchase", "en"): [
        "buy {a}", "add {a} to my cart", "i want to order {a} now", "checkout", "buy it now",
        "place an order for {a}", "add this to cart", "purchase {a}", "i'll take the {a}",
        "order two of {a}", "proceed to checkout", "put {a} in my basket", "buy this one",
        "i want to buy this {c} right now", "add 3 of these to the cart", "complete my purchase",
        "order {a} for me", "get me {a}, i'm ready to pay", "i'd like to buy {a}", "take my money, {a}",
        "ship {a} to me, i'll pay now", "reserve {a} and check out", "one {a} please, add to order",
        "buy 2 {a}", "move {a} to checkout", "pay for the {a} in my cart"
    ],
    ("purchase", "zh"): [
        "购买{a}", "把{a}加入购物车", "我要下单{a}", "立即购买", "去结算", "加购物车", "就买这个", "帮我下单", "下单{a}两件", "拍下{a}",
        "这个{c}我要了", "买两件{a}", "提交订单", "马上买{a}", "我要买这款", "放进购物车", "给我来一个{a}", "确认下单", "我要买{a}", "{a}拍一件",
        "帮我把{a}放购物车", "结算购物车", "{a}现在就下单", "直接购买{a}", "我决定买{a}了", "把这件{c}买了"
    ],
    ("product_qa", "en"): [
        "is {a} waterproof", "what is the battery life of {a}", "how big is {a}",
        "does {a} support bluetooth", "reviews of {a}", "is {a} any good", "what do people say about {a}",
        "how much does {a} weigh", "what material is {a} made of", "does {a} come with a charger",
        "{a} specs", "what colors does {a} come in", "is {a} compatible with mac",
        "how long is the warranty on {a}", "{a} review", "what size is {a}", "is {a} good quality",
        "rating of {a}", "does {a} have usb-c", "what's in the box with {a}", "how many watts is {a}",
        "can {a} be washed", "is {a} noisy", "what do reviews say about {a}",
        "does {a} fit a 15 inch laptop", "how durable is {a}", "is {a} made in japan",
        "what are the dimensions of {a}"
    ],
    ("product_qa", "zh"): [
        "{a}怎么样", "{a}防水吗", "{a}续航多久", "{a}是什么材质的", "{a}的评价", "{a}好用吗", "{a}尺寸多大", "{a}重量多少", "{a}支持蓝牙吗",
        "{a}的参数", "{a}质量怎么样", "{a}有几种颜色", "{a}保修多久", "{a}口碑如何", "{a}是正品吗", "{a}适合什么人用", "{a}买家评论", "{a}耗电吗",
        "{a}有什么缺点", "{a}包装里有什么", "{a}能机洗吗", "{a}噪音大吗", "{a}是哪里产的", "{a}耐用吗", "{a}功率多少", "{a}有没有异味",
        "{a}用户评价好吗", "{a}的具体规格"
    ],
    ("recommend", "en"): [
        "recommend a {c}", "what {c} should i buy", "suggest a good {c}", "best {c} for students",
        "any recommendations for a {c} under {p}", "what's a good gift for my dad",
        "recommend something like {a}", "what should i get my girlfriend for her birthday", "top rated {c}",
        "which {c} do you recommend", "help me choose a {c}", "gift ideas for a 10 year old",
        "what's popular in {c} right now", "can you suggest a {c} for travel",
        "i need ideas for a housewarming gift", "what goes well with {a}", "recommend a good budget {c}",
        "what's the best {c} this year", "what would you suggest for a {c}",
        "i'm not sure which {c} to get, any advice", "give me some good {c} options",
        "what's a nice present under {p} dollars", "best {c} for beginners", "your top pick for a {c}",
        "suggest something for my mom", "what else would go with {a}"
    ],
    ("recommend", "zh"): [
        "推荐一款{c}", "有什么好的{c}推荐", "{p}元以内{c}推荐", "送女朋友什么礼物好", "推荐个适合学生的{c}", "帮我挑一个{c}", "买什么{c}好",
        "有没有类似{a}的推荐", "送爸爸什么礼物", "最近流行什么{c}", "给我推荐点{c}", "哪款{c}值得买", "性价比高的{c}推荐一下", "适合送长辈的礼物",
        "{c}买哪个牌子好", "你推荐哪款{c}", "搭配{a}买点什么", "开学买什么好", "帮我推荐几款{c}", "{c}选什么好", "有啥好用的{c}", "{p}块钱送什么礼物好",
        "新手适合什么{c}", "给妈妈买什么好", "买{a}还需要配什么", "求推荐{c}"
    ],
    ("order_status", "en"): [
        "where is my order", "track order {n}", "when will my package arrive", "has my order shipped",
        "order {n} status", "my parcel hasn't arrived yet", "what's the delivery status of my {c}",
        "how long does shipping take", "is my order on the way", "tracking number for my order",
        "when will {a} be delivered", "my package is late", "can i change the delivery date",
        "check my order status", "the courier hasn't come", "why is my order still processing",
        "where's my package", "has {a} been dispatched", "delivery update for order {n}",
        "my order says shipped but nothing arrived", "estimated arrival of my order",
        "when does my {c} ship", "is order {n} out for delivery", "still waiting for my parcel"
    ],
    ("order_status", "zh"): [
        "我的订单到哪了", "查一下订单{n}", "快递什么时候到", "发货了吗", "物流信息", "订单状态", "我买的{c}怎么还没到", "什么时候发货", "查物流", "包裹到哪里了",
        "快递单号是多少", "{a}几天能到", "订单一直显示待发货", "能改配送时间吗", "催一下发货", "我的快递丢了吗", "包裹怎么还没到", "{a}发货了没", "订单{n}的物流",
        "显示已发货但没收到", "预计什么时候送达", "我的{c}到哪了", "订单{n}派送了吗", "快递怎么这么慢"
    ],
    ("return_refund", "en"): [
        "how do i return an item", "i want a refund", "return {a}", "refund for order {n}",
        "what is your return policy", "cancel my order", "how long does a refund take",
        "exchange {a} for a different size", "my {c} arrived broken, i want my money back",
        "has my refund been processed", "can i return a used {c}", "start a return", "cancel order {n}",
        "i received the wrong item", "do you offer free returns", "how to get my money back",
        "i want to send {a} back", "return label please", "money back for order {n}",
        "{a} doesn't fit, can i exchange it", "refund status", "how do returns work",
        "i changed my mind about {a}, cancel it", "item damaged, need a refund"
    ],
    ("return_refund", "zh"): [
        "怎么退货", "我要退款", "退货{a}", "订单{n}申请退款", "退货政策是什么", "取消订单", "退款多久到账", "{a}换个尺码", "收到的{c}坏了要退", "退款到了吗",
        "七天无理由退货吗", "申请售后", "退换货怎么操作", "发错货了", "退货运费谁出", "仅退款不退货可以吗", "{a}想退掉", "退货地址是什么", "订单{n}退款进度",
        "{a}尺码不合适能换吗", "退款怎么还没到", "不想要了能退吗", "取消{a}的订单", "商品破损要求退款"
    ],
    ("payment_promotion", "en"): [
        "do you have any coupons", "what payment methods do you accept", "can i pay with paypal",
        "is there a discount on {a}", "my payment failed", "any promo codes", "when is the next sale",
        "can i pay in installments", "does {a} have a discount", "apply coupon", "is there free shipping",
        "my card was declined at checkout", "do you accept apple pay", "black friday deals",
        "student discount", "how do i use a gift card", "any deals on {c}", "is {a} on sale",
        "coupon code not working", "can i use two coupons", "do you take credit cards",
        "why was i charged twice", "what discounts do members get", "is there a price drop coming for {a}"
    ],
    ("payment_promotion", "zh"): [
        "有优惠券吗", "支持哪些付款方式", "可以用支付宝吗", "{a}有折扣吗", "付款失败了", "有没有优惠码", "什么时候打折", "能分期付款吗", "满减活动", "怎么用优惠券",
        "包邮吗", "支付不成功怎么办", "双十一有什么活动", "可以用微信支付吗", "新人优惠", "花呗能用吗", "{c}有活动吗", "{a}降价了吗", "优惠券用不了",
        "能叠加优惠吗", "可以信用卡付款吗", "怎么扣了两次钱", "会员有折扣吗", "{a}什么时候有优惠"
    ],
    ("account", "en"): [
        "i forgot my password", "how do i change my shipping address", "update my email address",
        "delete my account", "i can't log in", "create an account", "download my invoice",
        "unsubscribe from the newsletter", "change my phone number", "reset password",
        "how to add a new address", "where can i find my invoices", "my account is locked",
        "change username", "sign up", "cancel my subscription", "change my password",
        "update billing address", "how do i log out", "verify my email",
        "i never got the verification code", "where are my account settings", "remove a saved address",
        "send me a copy of my invoice"
    ],
    ("account", "zh"): [
        "忘记密码了", "修改收货地址", "怎么换绑手机号", "注销账号", "登录不上", "注册账号", "开发票", "取消订阅", "修改密码", "添加新地址", "怎么查看发票",
        "账号被锁了", "改昵称", "怎么退出登录", "会员怎么续费", "绑定邮箱", "怎么改密码", "收不到验证码", "更换默认地址", "删除收货地址", "账号怎么绑定微信",
        "个人信息在哪改", "发票抬头怎么改", "怎么切换账号"
    ],
    ("chitchat", "en"): [
        "hello", "hi there", "thanks", "thank you so much", "good morning", "who are you",
        "are you a robot", "bye", "tell me a joke", "how are you", "nice to meet you", "you're helpful",
        "what's your name", "ok cool", "good night", "haha that's funny", "hey", "thanks a lot",
        "you're awesome", "goodbye", "how's it going", "lol", "what can you do", "have a nice day"
    ],
    ("chitchat", "zh"): [
        "你好", "谢谢", "早上好", "你是谁", "你是机器人吗", "再见", "讲个笑话", "你好呀", "在吗", "辛苦了", "晚安", "你叫什么名字", "哈哈", "好的谢谢",
        "你真聪明", "嗨", "嗨喽", "多谢", "你真棒", "拜拜", "最近好吗", "你能做什么", "祝你开心", "早安"
    ],
    ("out_of_scope", "en"): [
        "what's the weather today", "who won the football game", "how do i cook rice",
        "what is the capital of france", "translate hello into german", "book a flight to tokyo",
        "what time is it in london", "solve 2x+3=7", "write a python function", "how tall is mount everest",
        "set an alarm for 7am", "who is the president", "what's the meaning of life",
        "how do i fix a flat tire", "recommend a good movie to watch tonight",
        "how do i get to the airport", "what's 15 percent of 80", "who wrote hamlet", "play some music",
        "how do vaccines work", "what's the exchange rate for yen", "remind me to call mom",
        "how far is the moon", "tell me about the stock market today"
    ],
    ("out_of_scope", "zh"): [
        "今天天气怎么样", "谁赢了昨天的球赛", "米饭怎么煮", "法国的首都是哪里", "把你好翻译成英文", "订一张去北京的机票", "现在几点了", "解方程2x+3=7",
        "帮我写个Python函数", "珠穆朗玛峰多高", "明天早上七点叫我", "美国总统是谁", "人生的意义是什么", "怎么换轮胎", "推荐一部好看的电影", "去机场怎么走",
        "明天会下雨吗", "最近有什么新闻", "帮我写一首诗", "1加1等于几", "放首歌", "莎士比亚写过什么", "汇率是多少", "提醒我给妈妈打电话", "月亮离地球多远",
        "今天股市怎么样", "怎么学英语", "红烧肉怎么做"
    ],
}


def catalog_slots(catalog: Path) -> dict[str, dict[str, list[str]]]:
    """Product names, brands and categories per language from the demo catalog, split by name hash."""
    names: dict[str, dict[str, set[str]]] = {s: {"en": set(), "zh": set()} for s in SPLITS}
    cats: dict[str, dict[str, set[str]]] = {s: {"en": set(), "zh": set()} for s in SPLITS}
    for line in catalog.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        lang = "zh" if row.get("currency") == "CNY" else "en"
        category, brand = (row.get("category") or "").strip(), (row.get("brand") or "").strip()
        if not category or len(category) > 24:
            continue
        category = category if lang == "zh" else category.lower()
        cats[hash_split("c" + category, 0.2, 0.25)][lang].add(category)
        if brand and len(brand) <= 16:
            name = f"{brand}{category}" if lang == "zh" else f"{brand} {category}"
            names[hash_split("n" + name, 0.2, 0.25)][lang].add(name)
    for split, extra in zip(SPLITS, (slice(0, 6), slice(6, 8), slice(8, 10)), strict=True):
        names[split]["en"].update(EXTRA_EN_NAMES[extra])
        names[split]["zh"].update(EXTRA_ZH_NAMES[extra])
    return {s: {lang: {"a": sorted(names[s][lang]), "c": sorted(cats[s][lang])} for lang in ("en", "zh")}
            for s in SPLITS}


def written_examples(slots: dict[str, dict[str, list[str]]]) -> dict[str, list[IntentExample]]:
    """Template examples per split; each template belongs to exactly one split."""
    rng = random.Random(20261128)
    out: dict[str, list[IntentExample]] = {s: [] for s in SPLITS}
    for (label, lang), templates in sorted(TEMPLATES.items()):
        for index, template in enumerate(templates):
            split = template_split(index)
            fill = dict(slots[split][lang])
            fill["b"] = fill["a"]
            fill.update(_number_slots(lang))
            for text in expand_templates([template], fill, PER_TEMPLATE[split], rng):
                for variant in decorate(text, label, lang, PER_TEMPLATE[split] if text == template else 1, rng):
                    out[split].append(IntentExample(text=variant, label=label, lang=lang,
                                                    source=f"written:{label}:{lang}:{index}"))
    return out


def decorate(text: str, label: str, lang: str, count: int, rng: random.Random) -> list[str]:
    """`count` variants of a text with random polite prefixes/suffixes (search queries stay bare)."""
    if label == "product_search":
        return [text]
    prefixes, suffixes = DECORATIONS[lang]
    return [rng.choice(prefixes) + text + rng.choice(suffixes) for _ in range(count)]


def _number_slots(lang: str) -> dict[str, list[str]]:
    prices = ["50", "100", "200", "300", "500", "1000", "2000"]
    orders = ["#10234", "A88213", "2026112801", "No. 55123", "7788"]
    return {"p": prices, "n": orders}


def public_examples(shared: Path) -> dict[str, list[IntentExample]]:
    """Bitext, CLINC150 and the Taobao query log, per split, capped per upstream intent."""
    bitext_dir = shared / "intents_en" / "bitext_customer_support"
    big = read_bitext(bitext_dir / "bitext_customer_support_20k.csv", "bitext20k")
    out: dict[str, list[IntentExample]] = {s: [] for s in SPLITS}
    for example in big:
        split = hash_split(example.text, dev=0.15, test=0.0)
        out[split].append(example)
    out["test"].extend(read_bitext(bitext_dir / "bitext_customer_service_8k.csv", "bitext8k"))
    for split, examples in read_clinc(shared / "intents_en" / "clinc150" / "data").items():
        out[split].extend(examples)
    queries = read_querylog(shared / "querylog_zh_multicpr" / "train.query.txt")
    by_split: dict[str, list[IntentExample]] = {s: [] for s in SPLITS}
    for example in queries:
        by_split[hash_split(example.text)].append(example)
    for split in SPLITS:
        capped = cap_per_group(out[split], SOURCE_CAP[split], seed=split)
        out[split] = capped + cap_per_group(by_split[split], QUERYLOG_SHARE[split], seed=split)
    return out


def build(shared: Path, catalog: Path) -> dict[str, list[IntentExample]]:
    """The three splits, deduplicated across splits (test first, then dev) and capped per label."""
    written = written_examples(catalog_slots(catalog))
    public = public_examples(shared)
    seen: set[str] = set()
    result = {}
    for split in ("test", "dev", "train"):
        combined = dedupe(written[split] + public[split], seen)
        result[split] = sorted(balance(combined, CAP[split], seed=split),
                               key=lambda e: (LABELS.index(e.label), e.lang, e.source, e.text))
    return {s: result[s] for s in SPLITS}


def balance(examples: list[IntentExample], cap: int, seed: str) -> list[IntentExample]:
    """Per label: public data up to half the cap, written examples up to the cap, then public data again."""
    written = cap_per_label([e for e in examples if e.source.startswith("written:")], cap, seed)
    public = cap_per_label([e for e in examples if not e.source.startswith("written:")], cap, seed)
    chosen = []
    for label in LABELS:
        pub = [e for e in public if e.label == label]
        own = [e for e in written if e.label == label]
        first = pub[:cap // 2]
        mine = own[:cap - len(first)]
        chosen += first + mine + pub[len(first):len(first) + cap - len(first) - len(mine)]
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Command line entry: build and write the three files, print counts per split, label and language."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--catalog", type=Path, default=ROOT / "assistant" / "data" / "demo_catalog.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "data", help="where intent_test.jsonl goes")
    parser.add_argument("--train-out", type=Path, default=ROOT / "tools" / "resources",
                        help="where intent_train.jsonl and intent_dev.jsonl go (they ship with the classifier)")
    args = parser.parse_args(argv)
    splits = build(args.shared, args.catalog)
    for split, examples in splits.items():
        write_jsonl((args.out if split == "test" else args.train_out) / f"intent_{split}.jsonl", examples)
        counts = Counter((e.label, e.lang) for e in examples)
        print(f"{split}: {len(examples)}")
        for label in LABELS:
            print(f"  {label:18s} en {counts[(label, 'en')]:4d}  zh {counts[(label, 'zh')]:4d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
