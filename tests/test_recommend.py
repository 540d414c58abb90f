"""Item-item co-occurrence, the personalised re-rank, grounded reasons (zh + en) and the recommendation tools."""

import json
import re

import pytest

from assistant.app import DEMO_CATALOG
from tools.catalog_store import CatalogStore
from tools.core.types import Product, SearchHit
from tools.demo_users import DEMO_USERS, interest_pool, seed_demo_users
from tools.history import HistoryStore
from tools.history_profile import Preference, PriceBand, UserProfile
from tools.reasons import format_number, format_price
from tools.recommend import (
    ItemItemModel,
    ModelCache,
    make_history_tool,
    make_recommend_tool,
    recommend,
    semantic_score,
)

NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.fixture
def history(tmp_path):
    store = HistoryStore(None, tmp_path / "h")
    yield store
    store.close()


@pytest.fixture
def store(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "catalog", hash_embedder)
    s.upsert(small_catalog)
    return s


@pytest.fixture(scope="module")
def demo_products():
    with DEMO_CATALOG.open(encoding="utf-8") as fh:
        return [Product.model_validate_json(line) for line in fh]


def hits(products):
    return [SearchHit(product=p, score=1.0 / (i + 1)) for i, p in enumerate(products)]


def P(pid, brand, category, price, currency="USD", **extra):
    return Product(id=pid, title=f"{brand} {category} model {pid}", brand=brand, category=category, price=price,
                   currency=currency, **extra)


# -- item-item model ---------------------------------------------------------------------------------------------------
def test_item_item_cosine_from_weighted_interactions():
    model = ItemItemModel.from_interactions([
        ("u1", "a", "purchase"), ("u1", "b", "purchase"), ("u1", "a", "view"),
        ("u2", "a", "view"), ("u2", "b", "view"),
        ("u3", "c", "click"), ("u3", "a", "view"), ("u4", "d", "view"), ("u5", "e", "search"),
    ])
    assert model.n_items == 4 and model.n_users == 4  # the search event carries no item
    similar = dict(model.similar(["a"], k=5))
    assert set(similar) == {"b", "c"}  # d was never engaged with together with a
    assert similar["b"] > similar["c"]
    # over users u1, u2, u3: a = (5, 1, 1), b = (5, 1, 0), c = (0, 0, 2)
    assert model.affinity(["b"], ["a"])["b"] == (pytest.approx(26 / (27 ** 0.5 * 26 ** 0.5)), "a")
    assert similar["c"] == pytest.approx(2 / (27 ** 0.5 * 2))
    assert model.popularity_of(["a", "zzz"]) == [5 + 1 + 1, 0.0]


def test_similar_excludes_its_inputs_and_unknown_ids():
    model = ItemItemModel.from_interactions([("u", "a", "view"), ("u", "b", "view")])
    assert [i for i, _ in model.similar(["a", "b", "nope"])] == []
    assert model.similar(["nope"]) == []
    assert model.affinity(["a", "b"], ["a"]) == {"b": (pytest.approx(1.0), "a")}


def test_an_empty_history_gives_a_working_empty_model(history):
    model = ItemItemModel.from_history(history)
    assert model.n_items == 0 and model.similar(["a"]) == [] and model.affinity(["a"], ["b"]) == {}
    assert recommend(hits([P("1", "X", "Y", 1)]), None, model, k=1)[0].product.id == "1"


def test_model_cache_rebuilds_only_when_events_arrive(history):
    cache = ModelCache(history, min_age_s=0)
    first = cache()
    assert first.n_items == 0 and cache() is first
    history.record_many([{"user_id": "u", "type": "purchase", "product_id": "a"},
                         {"user_id": "u", "type": "purchase", "product_id": "b"}])
    second = cache()
    assert second is not first and dict(second.similar(["a"]))["b"] == pytest.approx(1.0)
    slow = ModelCache(history, min_age_s=3600)
    kept = slow()
    history.record({"user_id": "v", "type": "view", "product_id": "c"})
    assert slow() is kept and kept.n_items == 2  # rebuilt at most once per min_age_s


# -- re-ranking --------------------------------------------------------------------------------------------------------
CANDIDATES = [P("1", "HP", "Mouse", 25), P("2", "Dell", "Mouse", 30), P("3", "Acer", "Mouse", 22),
              P("4", "Logitech", "Mouse", 45), P("5", "Lenovo", "Mouse", 28)]


def logitech_fan() -> UserProfile:
    return UserProfile(user_id="u", event_count=12,
                       preferred_brands=[Preference(name="Logitech", weight=0.7, purchased=True),
                                         Preference(name="HP", weight=0.1)],
                       price_bands={"USD": PriceBand(currency="USD", low=40, high=60, median=50, n=6)})


def test_without_history_the_search_order_is_kept():
    for profile in (None, UserProfile(user_id="nobody")):
        recs = recommend(hits(CANDIDATES), profile, None, k=5)
        assert [r.product.id for r in recs] == ["1", "2", "3", "4", "5"]
        assert all(r.personal_score == 0 for r in recs)
        assert [r.semantic_score for r in recs] == [pytest.approx(semantic_score(i)) for i in range(1, 6)]


def test_a_preferred_brand_in_the_price_band_moves_up():
    recs = recommend(hits(CANDIDATES), logitech_fan(), None, k=5)
    order = [r.product.id for r in recs]
    assert order[0] == "4"
    # products the history says nothing about keep their search order
    assert [i for i in order if i in ("2", "3", "5")] == ["2", "3", "5"]
    top = recs[0]
    assert top.personal_score > 0 and top.score == pytest.approx(0.55 * top.semantic_score + 0.45 * top.personal_score)


def test_a_weak_match_cannot_jump_far_on_a_small_preference():
    profile = UserProfile(user_id="u", event_count=3, preferred_brands=[Preference(name="Z", weight=1.0)],
                          preferred_categories=[Preference(name="Q", weight=0.05), Preference(name="Mouse", weight=1)])
    far = [P(str(i), "B", "Mouse", 10) for i in range(40)] + [P("z", "Z", "Other", 10)]
    recs = recommend(hits(far), profile, None, k=10)
    assert "z" not in [r.product.id for r in recs]


def test_co_occurrence_with_recent_items_lifts_a_candidate(history, demo_products):
    catalog = {p.id: p for p in CANDIDATES + [P("k", "Logitech", "Keyboard", 50)]}
    for user in ("a", "b", "c"):
        history.record_many([{"user_id": user, "type": "purchase", "product_id": "k"},
                             {"user_id": user, "type": "purchase", "product_id": "5"}])
    history.record({"user_id": "me", "type": "purchase", "product_id": "k"})
    profile = history.profile("me", catalog)
    model = ItemItemModel.from_history(history)
    plain = recommend(hits(CANDIDATES), None, None, k=5)
    personal = recommend(hits(CANDIDATES), profile, model, k=5, lookup=lambda ids: [catalog[i] for i in ids])
    rank = {r.product.id: i for i, r in enumerate(personal)}
    assert rank["5"] < [r.product.id for r in plain].index("5")
    lifted = next(r for r in personal if r.product.id == "5")
    assert lifted.related == ["k"] and any("often chosen together with Logitech Keyboard" in t for t in lifted.reasons)


# -- reasons ------------------------------------------------------------------------------------------------------------
def record_numbers(*products: Product) -> set[float]:
    found = set()
    for p in products:
        found.update(float(n) for n in NUMBER.findall(p.model_dump_json()))
    return found


def assert_grounded(rec, catalog: dict[str, Product], brands: set[str]):
    cited = [rec.product] + [catalog[i] for i in rec.related]
    allowed = record_numbers(*cited)
    own_text = " ".join(p.model_dump_json() for p in cited).lower()
    for reason in rec.reasons:
        for number in NUMBER.findall(reason):
            assert float(number) in allowed, f"{number!r} in {reason!r} is not a field of {rec.product.id}"
        for brand in brands:
            if brand.lower() in reason.lower():
                assert brand.lower() in own_text, f"brand {brand!r} in {reason!r} is not {rec.product.id}'s"


def test_every_number_and_brand_in_a_reason_comes_from_the_product(history, demo_products):
    seed_demo_users(history, demo_products)
    catalog = {p.id: p for p in demo_products}
    brands = {p.brand for p in demo_products if p.brand and len(p.brand) >= 3}
    model = ItemItemModel.from_history(history)
    checked = 0
    for user in DEMO_USERS:
        profile = history.profile(user.id, catalog)
        for interest in user.interests:
            pool = interest_pool(demo_products, user.currency, interest)
            others = [p for p in demo_products if p.currency == user.currency][:20]
            recs = recommend(hits(others + pool), profile, model, k=30, lang=user.lang,
                             lookup=lambda ids: [catalog[i] for i in ids if i in catalog])
            for rec in recs:
                assert rec.reasons
                assert_grounded(rec, catalog, brands)
                checked += 1
    assert checked > 300


def test_reasons_in_chinese_and_english_cite_the_fields():
    p = Product(id="t1", title="夏季纯棉蓝色T恤 男", brand="优衣库", category="T恤", price=79.0, currency="CNY",
                color="blue", attributes={"colour": "蓝色"})
    profile = UserProfile(user_id="u", event_count=5, preferred_brands=[Preference(name="优衣库", weight=0.6,
                                                                                    purchased=True)],
                          preferred_categories=[Preference(name="T恤", weight=0.5)],
                          price_bands={"CNY": PriceBand(currency="CNY", low=50, high=100, median=80, n=5)})
    zh = recommend(hits([p]), profile, None, k=1, lang="zh")[0].reasons
    assert zh == ["你买过的品牌：优衣库", "¥79，在你常买的价位内", "你常逛的品类：T恤"]
    en = recommend(hits([p]), profile, None, k=1, lang="en")[0].reasons
    assert en == ["优衣库, a brand you bought before", "¥79, in your usual price range", "T恤, a category you often shop"]
    plain_zh = recommend(hits([p]), None, None, k=1, lang="zh")[0].reasons
    assert plain_zh == ["与你的搜索最相符", "优衣库，T恤，蓝色，¥79"]
    rated = p.model_copy(update={"attributes": {"rating": 4.5}, "currency": "USD", "price": 19.99})
    assert recommend(hits([rated]), None, None, k=1)[0].reasons == [
        "the best match for your search", "优衣库, T恤, blue, $19.99, rated 4.5"]
    seen = UserProfile(user_id="u", event_count=1, preferred_brands=[Preference(name="优衣库", weight=1.0)])
    assert recommend(hits([p]), seen, None, k=1, lang="en")[0].reasons[0] == "优衣库, a brand you often look at"


def test_price_formatting_keeps_the_catalog_value():
    assert [format_number(v) for v in (79.0, 50.9, 19.99, 5999.0)] == ["79", "50.9", "19.99", "5999"]
    assert format_price(P("x", "B", "C", 12.5, "EUR")) == "€12.5"
    assert format_price(P("x", "B", "C", 3, "CHF")) == "3 CHF"
    assert format_price(Product(id="x", title="t")) is None


# -- tools --------------------------------------------------------------------------------------------------------------
def test_recommend_tool_schema_is_derived():
    tool = make_recommend_tool(None, None)
    schema = tool.args_schema.model_json_schema()
    assert set(schema["properties"]) == {"query", "user_id", "k", "price_min", "price_max", "brands", "colors",
                                         "categories"}
    assert schema["required"] == ["query"] and schema["properties"]["k"]["maximum"] == 20
    assert tool.name == "recommend_products" and "history" in tool.description


def test_recommend_tool_personalises_for_a_known_user(store, history):
    plain_tool = make_recommend_tool(store, history, ModelCache(history, min_age_s=0))
    plain = plain_tool.invoke({"query": "wireless mouse", "k": 3})
    assert plain["personalised"] is False and plain["products"][0]["id"] == "1"
    history.record_many([{"user_id": "dell-fan", "type": "purchase", "product_id": "8"},
                         {"user_id": "dell-fan", "type": "search", "query": "dell keyboard"}])
    personal = plain_tool.invoke({"query": "wireless mouse", "user_id": "dell-fan", "k": 3})
    assert personal["personalised"] is True and personal["products"][0]["id"] == "8"
    assert "Dell, a brand you bought before" in personal["products"][0]["reasons"]
    unknown = plain_tool.invoke({"query": "wireless mouse", "user_id": "nobody", "k": 3})
    assert unknown["personalised"] is False and [p["id"] for p in unknown["products"]] == \
        [p["id"] for p in plain["products"]]
    filtered = plain_tool.invoke({"query": "手机", "price_max": 100, "k": 3})
    assert filtered["products"][0]["id"] == "6" and "¥49" in filtered["products"][0]["reasons"][-1]
    assert all(p["price"] <= 100 for p in filtered["products"])


def test_recommend_tool_still_answers_when_history_is_locked(store, tmp_path):
    import sqlite3

    history = HistoryStore(None, tmp_path / "locked", busy_timeout_s=0.1)
    history.close()
    blocker = sqlite3.connect(tmp_path / "locked" / "history.db", isolation_level=None)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        out = make_recommend_tool(store, history).invoke({"query": "wireless mouse", "user_id": "u", "k": 2})
        assert out["products"] and out["personalised"] is False and "locked" in out["notes"][0]
        message = make_history_tool(history, store).invoke({"user_id": "u"})
        assert isinstance(message, str) and "history database" in message and "locked" in message
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_history_tool_returns_the_profile(store, history):
    tool = make_history_tool(history, store)
    assert tool.args_schema.model_json_schema()["required"] == ["user_id"]
    history.record_many([{"user_id": "u", "type": "purchase", "product_id": "4"},
                         {"user_id": "u", "type": "search", "query": "蓝色T恤"}])
    profile = tool.invoke({"user_id": "u"})
    assert profile["recent_queries"] == ["蓝色T恤"] and profile["preferred_brands"][0]["name"] == "优衣库"
    assert profile["price_bands"]["CNY"]["low"] == 79.0
    json.dumps(profile)  # plain JSON for the model
    assert tool.invoke({"user_id": "nobody"})["event_count"] == 0


def test_short_titles_never_cut_a_number_in_half():
    from tools.reasons import short_title

    p = Product(id="x", title="正品手机移动电源三星小米苹果充电宝12000毫安大容量")
    assert short_title(p, "zh") == "正品手机移动电源三星小米苹果充电宝…"
    q = Product(id="y", title="正品手机移动电源三星小米苹果充电宝1万毫安")
    assert short_title(q, "zh").startswith("正品手机移动电源三星小米苹果充电宝1")
    assert short_title(Product(id="z", title="HP 301 black ink cartridge tri-colour pack"), "en") == \
        "HP 301 black ink cartridge tri-colour …"


def test_a_recently_viewed_product_not_yet_bought_is_lifted_and_said_so():
    profile = UserProfile(user_id="u", event_count=4, recent_items=["3", "4"], recently_purchased=["4"])
    recs = recommend(hits(CANDIDATES), profile, None, k=5, lang="zh")
    assert [r.product.id for r in recs][:2] == ["1", "3"]  # 3 passes 2; 4 was bought, so it stays put
    assert recs[1].reasons == ["你最近看过这件商品"]
    assert next(r for r in recs if r.product.id == "4").personal_score == 0
