"""Memory-lean parts of the e5 encoder for inference, shared by every encoder in the process (the sentence
embedder and the intent classifier):

* the 250k x 384 word-embedding table kept in its 4-bit blocks (54 MB instead of 384 MB as float32) and
  dequantised row by row as tokens are looked up — the same values the float32 table holds;
* one XLM-R tokenizer (its vocabulary takes ~280 MB in memory), with padding and truncation done here per call
  so that no caller changes its settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.e5_file import Q4_BLOCK, parse_e5_file

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_LOCK = threading.Lock()
_SHARED: dict[str, Any] = {}


def q4_word_rows(data: bytes, offset: int, rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale bits as int16 [rows, blocks], packed nibbles as uint8 [rows, blocks, 16]) of a Q4_0 matrix."""
    per_row = width // 32
    blocks = np.frombuffer(data, Q4_BLOCK, rows * per_row, offset)
    scales = np.ascontiguousarray(blocks["scale"]).view(np.int16).reshape(rows, per_row)
    nibbles = np.ascontiguousarray(blocks["nibbles"]).reshape(rows, per_row, 16)
    return scales, nibbles


def q4_embedding_class() -> type:
    """The torch module class (defined on first use so that importing this module needs no torch)."""
    if "class" in _SHARED:
        return _SHARED["class"]
    import torch

    class Q4Embedding(torch.nn.Module):
        """An embedding table stored as Q4_0 blocks; a lookup dequantises only the rows it needs, to the values
        of the float32 table, then casts them to the dtype the rest of the model runs in."""

        scale_bits: torch.Tensor
        nibbles: torch.Tensor
        dtype_probe: torch.Tensor

        def __init__(self, scales: Any, nibbles: Any) -> None:
            super().__init__()
            # integer buffers: model.to(dtype) leaves them alone; not saved with the model's state
            self.register_buffer("scale_bits", scales, persistent=False)
            self.register_buffer("nibbles", nibbles, persistent=False)
            self.register_buffer("dtype_probe", torch.zeros(0), persistent=False)
            self.num_embeddings = int(scales.shape[0])
            self.embedding_dim = int(scales.shape[1]) * 32

        def forward(self, input_ids: Any) -> Any:
            packed = self.nibbles[input_ids]
            codes = torch.cat([packed & 0x0F, packed >> 4], dim=-1).to(torch.int8) - 8
            scales = self.scale_bits[input_ids].view(torch.float16).float()
            values = codes.float() * scales.unsqueeze(-1)
            return values.reshape(*input_ids.shape, self.embedding_dim).to(self.dtype_probe.dtype)

    _SHARED["class"] = Q4Embedding
    return Q4Embedding


def shared_word_rows(path: Path, data: bytes) -> tuple[Any, Any]:
    """The process-wide Q4 word-embedding tensors (scale bits, nibbles) of the e5 weights at `path`, taken
    from `data` (the file's bytes) the first time."""
    key = f"words:{path}"
    with _LOCK:
        if key not in _SHARED:
            import torch

            header, directory = parse_e5_file(data)
            scales, nibbles = q4_word_rows(data, directory["emb.word"].offset, header.vocab, header.hidden)
            _SHARED[key] = (torch.from_numpy(scales), torch.from_numpy(nibbles))
        return _SHARED[key]


def compact_word_embeddings(path: Path, data: bytes) -> Any:
    """A Q4 word-embedding module over the shared tensors (each model has its own module, so that each can
    run in its own dtype; the tables are not copied)."""
    return q4_embedding_class()(*shared_word_rows(path, data))


def shared_tokenizer(load: Callable[[], Tokenizer]) -> Tokenizer:
    """The process-wide XLM-R tokenizer: `load()` builds it the first time (truncation at 512 tokens, no
    padding); callers must not change its settings."""
    with _LOCK:
        if "tokenizer" not in _SHARED:
            _SHARED["tokenizer"] = load()
        return _SHARED["tokenizer"]


class E5Tokens:
    """Padding and truncation over the shared tokenizer, called like a transformers tokenizer for the subset
    this project uses: `tok(texts, padding=True, truncation=True, max_length=n, return_tensors="pt")`."""

    def __init__(self, tokenizer: Tokenizer, pad_id: int, max_length: int):
        self.tokenizer = tokenizer
        self.pad_token_id = pad_id
        self.model_max_length = max_length

    def encode(self, texts: list[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids with the special tokens; longer texts keep their start and the closing token."""
        limit = min(max_length or self.model_max_length, self.model_max_length)
        out = []
        for encoding in self.tokenizer.encode_batch(texts):
            ids = encoding.ids
            out.append(ids if len(ids) <= limit else [*ids[: limit - 1], ids[-1]])
        return out

    def __call__(self, texts: list[str], padding: bool = True, truncation: bool = True,
                 max_length: int | None = None, return_tensors: str = "pt") -> dict[str, Any]:
        """input_ids and attention_mask as torch tensors, right-padded to the longest text."""
        import torch

        rows = self.encode(list(texts), max_length if truncation else None)
        width = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}
