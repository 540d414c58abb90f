"""Product kinds, ranking features, the ranking model and attributes as evidence in the fast path."""

import json

import numpy as np
import pytest

from assistant.fast_path import analyze_query
from eval.ranker_fit import QueryFeatures, fit_fusion, fit_ranker, fold_of, ndcg_of
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore, product_kind
from tools.core.types import Product
from tools.product_kind import default_lexicon, same_kind
from tools.ranking import LanguageModel, RankingModel, RankingOptions, language_of
from tools.ranking_features import FEATURES, Candidates, Evidence, feature_matrix, gather


@pytest.mark.parametrize(("text", "kind"), [
    ("laptop", "notebook"),
    ("laptop backpack", "backpack"),
    ("notebook battery", "battery"),
    ("i need a laptop for college under 800 dollars", "notebook"),
    ("Targus Classic 15.6\" notebook case Black", "notebook case"),
    ("HP Pavilion dv7-1211ea Notebook Silver 43.2 cm", "notebook"),
    ("wireless mouse", "mouse"),
    ("Targus 17\" Laptop privacy filter", "filter"),
    ("蓝牙耳机", "耳机"),
    ("适用于华为手机的透明手机壳", "手机壳"),
])
def test_kind_is_the_head_of_the_first_product_phrase(text, kind):
    assert default_lexicon().kind_of(text) == kind


def test_accessory_is_not_the_kind_it_fits():
    lex = default_lexicon()
    assert not same_kind(lex.kind_of("laptop"), lex.kind_of("Targus laptop backpack black"))
    assert same_kind(lex.kind_of("notebook case"), lex.kind_of("Targus notebook case"))


def test_product_kind_prefers_a_category_that_names_a_kind():
    product = Product(id="1", title="Acme X1 15 inch", category="Notebook")
    assert product_kind(product) == "notebook"
    assert product_kind(Product(id="2", title="Acme notebook battery 6 cell")) == "battery"


def test_candidates_are_the_union_of_both_sides():
    bm25 = np.array([0.0, 3.0, 1.0, 0.0])
    cosine = np.array([0.9, 0.1, 0.2, 0.8])
    cands = gather(bm25, cosine, depth=2)
    assert sorted(cands.rows.tolist()) == [0, 1, 2, 3]
    assert dict(zip(cands.rows.tolist(), cands.bm25_rank.tolist(), strict=True)) == {0: 0, 1: 1, 2: 2, 3: 0}


def test_features_carry_kind_and_attribute_agreement():
    cands = Candidates(np.array([0, 1]), np.array([2.0, 1.0]), np.array([0.5, 0.9]), np.array([1, 2]),
                       np.array([2, 1]))
    titles = [{"acme", "laptop", "backpack"}, {"acme", "notebook"}]
    x = feature_matrix(cands, "acme laptop", Evidence(kind="notebook", brands=["acme"], colors=["black"]),
                       titles, np.array(["backpack", "notebook"], dtype=object), np.array(["acme", "other"]),
                       np.array(["black", ""]), np.array(["acme laptop backpack", "acme notebook"]))
    f = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert f["kind_match"] == [0.0, 1.0] and f["kind_other"] == [1.0, 0.0]
    assert f["brand_match"] == [1.0, 0.0] and f["brand_other"] == [0.0, 1.0] and f["color_match"] == [1.0, 0.0]
    assert f["bm25"] == [1.0, 0.5] and f["cosine"] == [0.0, 1.0] and f["coverage"] == [1.0, 0.5]


def test_kind_penalty_lowers_another_kind_but_not_an_unknown_one():
    x = np.zeros((3, len(FEATURES)))
    x[:, 0] = [1.0, 0.95, 0.92]  # BM25: another kind, unknown kind, the query's kind
    x[0, FEATURES.index("kind_other")] = 1.0
    x[2, FEATURES.index("kind_match")] = 1.0
    scores = LanguageModel(lexical_weight=1.0, kind_penalty=0.1).fused(x)
    assert np.argsort(-scores).tolist() == [1, 2, 0]
    assert np.argsort(-LanguageModel(lexical_weight=1.0).fused(x)).tolist() == [0, 1, 2]


def test_model_round_trips_and_refuses_other_features(tmp_path):
    model = RankingModel({"en": LanguageModel(0.7, 0.1, 0.05, [0.5] * len(FEATURES), kind_penalty=0.1),
                          "zh": LanguageModel(0.3)})
    path = tmp_path / "m.json"
    path.write_text(model.dumps())
    assert RankingModel.load(path).languages == model.languages
    assert model.for_query("蓝牙耳机").lexical_weight == 0.3 and language_of("usb cable") == "en"
    data = json.loads(path.read_text())
    data["features"] = ["bm25"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="other features"):
        RankingModel.load(path)


def _queries(rng, n=30):
    """Synthetic judged queries whose relevant candidate has a high feature 1 (cosine) and a random bm25."""
    out = []
    for i in range(n):
        x = rng.random((20, len(FEATURES))) * 0.5
        x[0, 1] = 1.0
        out.append(QueryFeatures(f"q{i}", [f"{i}-{j}" for j in range(20)], x, {f"{i}-0": 1.0}))
    return out


def test_fitting_finds_the_signal_and_folds_are_stable():
    queries = _queries(np.random.default_rng(0))
    fusion = fit_fusion(queries)
    assert fusion.lexical_weight < 0.5
    ranker = fit_ranker(queries, fusion)
    assert ndcg_of(queries, lambda x: ranker.score(x, True)) > 0.95
    assert fold_of("laptop", 5) == fold_of("laptop", 5) and 0 <= fold_of("x", 5) < 5


@pytest.fixture
def store(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "catalog", hash_embedder)
    s.upsert(small_catalog)
    return s


def test_colour_is_evidence_not_a_wall(store, small_catalog):
    parser = AttributeParser.from_products(small_catalog)
    ranking = RankingOptions(RankingModel({"en": LanguageModel(0.5, 0.0, 0.5), "zh": LanguageModel(0.5, 0.0, 0.5)}),
                             learned=False)
    result = analyze_query(store, "black wireless keyboard under $50", max_chars=512, parser=parser,
                           ranking=ranking, evidence=True)
    ids = [h.product.id for h in result.products]
    assert ids[0] == "8" and "1" in ids  # the grey mouse is not dropped for its colour
    assert result.filters.colors == [] and result.filters.price_max == 50
    assert all(h.product.price <= 50 for h in result.products)
    assert result.products[0].kind == "keyboard" and result.product_kind == "keyboard"


def test_only_makes_the_brand_a_filter(store, small_catalog):
    parser = AttributeParser.from_products(small_catalog)
    ranking = RankingOptions(RankingModel(), learned=False)
    result = analyze_query(store, "just logitech wireless mouse", max_chars=512, parser=parser, ranking=ranking,
                           evidence=True)
    assert [h.product.brand for h in result.products] == ["Logitech"]


def test_negation_still_filters_with_evidence(store, small_catalog):
    parser = AttributeParser.from_products(small_catalog)
    result = analyze_query(store, "连衣裙 不要红色", max_chars=512, parser=parser,
                           ranking=RankingOptions(RankingModel(), learned=False), evidence=True)
    assert "5" not in [h.product.id for h in result.products]
