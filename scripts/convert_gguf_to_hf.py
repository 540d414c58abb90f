"""Convert a Qwen2 GGUF (the bundled Qwen2.5-Coder-0.5B by default) into a safetensors folder that vLLM can serve.

Run it with a Python that has torch, transformers and gguf (the vLLM venv made by scripts/setup_vllm.sh). The
result is cached under --out-root by the GGUF's sha256: a second run with the same file only prints the folder.

    .cache/vllm-venv/bin/python scripts/convert_gguf_to_hf.py --gguf MODEL.gguf --out-root .cache/vllm-models

Why not `save_pretrained` on the GGUF-loaded model: transformers refuses it. So the dequantized weights are loaded
into a model built fresh from the same config and saved from there, with three fixes vLLM needs: no
`quantization_config` in config.json (vLLM would treat the folder as GGUF), the GGUF's own output matrix saved
untied, and a generation_config.json naming both end-of-turn tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

CHUNK_BYTES = 8 * 1024 * 1024
DONE_FILE = "shopquery-conversion.json"
# Qwen2.5 ids: <|im_end|> ends a chat turn, <|endoftext|> ends a document (and pads).
EOS_IDS = [151645, 151643]
PAD_ID = 151643


def file_sha256(path: Path) -> str:
    """sha256 hex of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def converted_dir(out_root: Path, gguf: Path, sha256: str) -> Path:
    """The folder that holds (or will hold) the conversion of `gguf`."""
    stem = gguf.name.removesuffix(".gguf")
    return out_root / f"{stem}-{sha256[:16]}"


def is_converted(folder: Path, sha256: str) -> bool:
    """True when `folder` holds a finished conversion of the GGUF with this sha256."""
    try:
        record = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("gguf_sha256") == sha256


def _gguf_tensors(gguf: Path, names: set[str]) -> dict[str, Any]:
    """The named GGUF tensors dequantized to float32 torch tensors (names absent from the file are left out)."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize

    found = {}
    for tensor in GGUFReader(str(gguf)).tensors:
        if tensor.name in names:
            values = np.ascontiguousarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
            found[tensor.name] = torch.from_numpy(values.reshape([int(d) for d in reversed(tensor.shape)]))
    return found


def _build_model(gguf: Path) -> tuple[Any, Any]:
    """(model in bf16 with untied weights, tokenizer) rebuilt from the dequantized GGUF."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    source = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = source.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.tie_word_embeddings = False
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    state = dict(source.state_dict())
    # Input embedding and output matrix straight from the file: the source config may tie them, the file does not.
    own = _gguf_tensors(gguf, {"token_embd.weight", "output.weight"})
    state["model.embed_tokens.weight"] = own["token_embd.weight"]
    state["lm_head.weight"] = own.get("output.weight", own["token_embd.weight"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    del source, state
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit the rebuilt model: missing {missing}, unexpected {unexpected}")
    return model, tokenizer


def _write_generation_config(folder: Path) -> None:
    config = {"bos_token_id": PAD_ID, "eos_token_id": EOS_IDS, "pad_token_id": PAD_ID}
    (folder / "generation_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _drop_quantization(folder: Path) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.pop("quantization_config", None)
    config["tie_word_embeddings"] = False
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _chat_template(folder: Path) -> str:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    return str(config.get("chat_template") or "")


def convert(gguf: Path, out_root: Path) -> Path:
    """The safetensors folder converted from `gguf` (converted now unless a finished one is cached)."""
    sha = file_sha256(gguf)
    dest = converted_dir(out_root, gguf, sha)
    if is_converted(dest, sha):
        return dest
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".{dest.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.monotonic()
    try:
        model, tokenizer = _build_model(gguf)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        _drop_quantization(tmp)
        _write_generation_config(tmp)
        if "<tool_call>" not in _chat_template(tmp):
            raise RuntimeError("the saved chat template lost its <tool_call> section")
        record = {"gguf": str(gguf), "gguf_sha256": sha, "seconds": round(time.monotonic() - started, 1)}
        (tmp / DONE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _default_gguf() -> Path:
    """The GGUF shopquery's settings select (needs shopquery importable, i.e. its own venv)."""
    from assistant.model_files import ensure_model_file
    from assistant.settings import load_settings

    return ensure_model_file(load_settings(llm_backend="embedded"), progress=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the one shopquery's settings select)")
    parser.add_argument("--out-root", type=Path, default=Path(".cache/vllm-models"))
    parser.add_argument("--record", type=Path, help="also write the converted folder's path into this file")
    args = parser.parse_args(argv)
    gguf = (args.gguf or _default_gguf()).expanduser().resolve()
    if not gguf.is_file():
        parser.error(f"--gguf {gguf} is not a file")
    dest = convert(gguf, args.out_root.resolve())
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(f"{dest}\n", encoding="utf-8")
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
