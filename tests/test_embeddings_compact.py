"""The memory-lean e5 parts: the 4-bit word table gives the float32 table's values, the shared tokenizer pads and
truncates like the transformers tokenizer, and the encoders of one process share both."""

from __future__ import annotations

import pytest

from tools import embeddings as emb

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = ["query: 蓝色T恤", "query: Logitech M185 wireless mouse", "query: " + "很长的商品标题 long title " * 40, "query: "]


@pytest.fixture(scope="module")
def encoders():
    compact, tokens = emb.load_e5_inference_encoder()
    full, hf_tokenizer = emb.load_e5_encoder()
    return compact, tokens, full, hf_tokenizer


def test_compact_word_table_looks_up_the_float32_values(encoders):
    import torch

    compact, _, full, _ = encoders
    ids = torch.tensor([[0, 5, 250036, 1], [3, 6, 151, 2]])
    got = compact.embeddings.word_embeddings(ids)
    want = full.embeddings.word_embeddings(ids)
    assert got.dtype == torch.float32 and torch.equal(got, want)
    assert not any("word_embeddings" in name for name, _ in compact.named_parameters())


def test_compact_encoder_gives_the_same_hidden_states(encoders):
    import torch

    compact, tokens, full, hf_tokenizer = encoders
    batch = hf_tokenizer(TEXTS, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        a = compact(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        b = full(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("max_length", [8, 64, 512])
def test_shared_tokenizer_pads_and_truncates_like_transformers(encoders, max_length):
    import torch

    _, tokens, _, hf_tokenizer = encoders
    ours = tokens(TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    theirs = hf_tokenizer(TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])


def test_encoders_of_a_process_share_the_table_and_the_tokenizer(encoders):
    compact, tokens, _, _ = encoders
    other, other_tokens = emb.load_e5_inference_encoder()
    assert other is not compact and other_tokens.tokenizer is tokens.tokenizer
    mine, theirs = compact.embeddings.word_embeddings, other.embeddings.word_embeddings
    assert mine is not theirs and mine.nibbles.data_ptr() == theirs.nibbles.data_ptr()
