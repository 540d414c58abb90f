"""The catalog store and hybrid search over a real on-disk chromadb (with a hashing embedder)."""

import pytest

from tools.catalog_search import filter_mask, fuse, search_catalog
from tools.catalog_store import CatalogStore
from tools.core.types import SearchFilters


@pytest.fixture
def store(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "catalog", hash_embedder)
    s.upsert(small_catalog)
    return s


def ids(hits):
    return [h.product.id for h in hits]


def test_reingest_is_idempotent_and_only_changed_rows_are_embedded(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "c", hash_embedder)
    first = s.upsert(small_catalog)
    assert (first.added, first.updated, first.unchanged) == (8, 0, 0)
    again = s.upsert(small_catalog)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 8)
    assert hash_embedder.passages_embedded == 8
    changed = small_catalog[0].model_copy(update={"price": 9.99})
    third = s.upsert([changed])
    assert (third.added, third.updated) == (0, 1)
    assert hash_embedder.passages_embedded == 9
    assert s.count() == 8
    assert s.products_by_id(["1"])[0].price == 9.99


def test_duplicate_ids_in_one_batch_keep_the_last(tmp_path, hash_embedder, small_catalog):
    s = CatalogStore(tmp_path / "c", hash_embedder)
    s.upsert([small_catalog[0], small_catalog[0].model_copy(update={"title": "renamed mouse"})])
    assert s.count() == 1 and s.products_by_id(["1"])[0].title == "renamed mouse"


def test_reopened_store_searches_without_reembedding(tmp_path, hash_embedder, store):
    before = hash_embedder.passages_embedded
    reopened = CatalogStore(tmp_path / "catalog", hash_embedder)
    assert reopened.count() == 8
    assert ids(search_catalog(reopened, "wireless mouse", k=2)) == ["1", "8"]
    assert hash_embedder.passages_embedded == before


def test_stale_or_missing_index_is_rebuilt_from_chromadb(tmp_path, hash_embedder, store):
    import shutil

    shutil.rmtree(store.index_path)
    reopened = CatalogStore(tmp_path / "catalog", hash_embedder)
    assert ids(search_catalog(reopened, "蓝色T恤", k=1)) == ["4"]
    assert store.index_path.exists()


def test_hybrid_search_in_both_languages(store):
    assert ids(search_catalog(store, "蓝色T恤", k=1)) == ["4"]
    assert ids(search_catalog(store, "iphone 手机壳", k=1)) == ["6"]
    top = search_catalog(store, "wireless mouse", k=3)
    assert ids(top)[:2] == ["1", "8"]
    assert top[0].bm25_rank == 1 and top[0].dense_rank is not None


def test_modes(store):
    assert ids(search_catalog(store, "notebook", k=1, mode="bm25")) == ["3"]
    assert ids(search_catalog(store, "notebook", k=1, mode="dense")) == ["3"]
    assert search_catalog(store, "zzzz qqqq", k=5, mode="bm25") == []


@pytest.mark.parametrize("filters, expected", [
    (SearchFilters(price_max=30), {"1", "2"}),
    (SearchFilters(price_min=100, price_max=1000), {"3", "5"}),
    (SearchFilters(brands=["hp"]), {"2", "3"}),
    (SearchFilters(colors=["black"]), {"2", "7", "8"}),
    (SearchFilters(categories=["notebook"]), {"3"}),
    (SearchFilters(categories=["手机"]), {"6", "7"}),
    (SearchFilters(exclude_colors=["black", "grey"], price_max=100), {"4", "6"}),
    (SearchFilters(exclude_brands=["HP"], colors=["black"]), {"7", "8"}),
])
def test_filters_hold_for_every_hit(store, filters, expected):
    hits = search_catalog(store, "a", filters, k=20)
    assert set(ids(hits)) <= expected
    mask = filter_mask(store.index, filters)
    assert {store.index.products[i].id for i in mask.nonzero()[0]} == expected
    assert set(ids(search_catalog(store, "black wireless mouse hp 手机", filters, k=20))) == expected


def test_filter_that_matches_nothing(store):
    assert search_catalog(store, "mouse", SearchFilters(brands=["nobody"])) == []


def test_rrf_fusion_rewards_agreement():
    fused = dict(fuse([[1, 2, 3], [3, 1]]))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert max(fused, key=fused.get) == 1


def test_search_tool_schema_is_derived_and_filters_apply(store):
    from tools.catalog_search import make_search_tool

    tool = make_search_tool(store)
    schema = tool.args_schema.model_json_schema()
    assert {"query", "price_max", "brands", "colors"} <= set(schema["properties"])
    result = tool.invoke({"query": "mouse", "price_max": 30})
    assert [p["id"] for p in result] and all(p["price"] <= 30 for p in result)


@pytest.mark.parametrize(("policy", "expected"), [
    ("latin", [("wireless mouse", True), ("蓝牙耳机", False), ("华为 mate 60", False)]),
    ("all", [("wireless mouse", True), ("蓝牙耳机", True), ("华为 mate 60", True)]),
    ("off", [("wireless mouse", False), ("蓝牙耳机", False), ("华为 mate 60", False)]),
])
def test_query_vectors_come_from_the_int8_encoder_as_the_policy_says(tmp_path, hash_embedder, policy, expected):
    asked: list[tuple[str, bool]] = []
    plain = hash_embedder.embed_queries

    def recording(texts, int8=False):
        asked.extend((t, int8) for t in texts)
        return plain(texts)

    hash_embedder.embed_queries = recording
    s = CatalogStore(tmp_path / "c", hash_embedder, int8_queries=policy)
    for text, _ in expected:
        s.query_vector(text)
        s.query_vector(text)  # cached: embedded once
    assert asked == expected
    s.int8_queries = "off" if policy != "off" else "all"
    s.query_vector("wireless mouse")  # the other encoder's vector is not taken from the cache
    assert asked[-1] == ("wireless mouse", policy == "off")
