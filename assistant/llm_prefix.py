"""Kept prompt prefixes for the embedded model. Many prompts open with the same tokens (the persona and the fixed
head of a reply prompt); llama.cpp evaluates only what follows the longest prefix it still holds, but any other
call in between (a tool call, a JSON expansion) replaces what it holds. A kept prefix is evaluated once, its
key/value state copied out (a few MB), and copied back before a prompt that starts with it, so that only the
rest of the prompt is evaluated."""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_PREFIXES = 8
SEQ = 0  # llama-cpp-python evaluates every prompt as sequence 0


@dataclass(frozen=True)
class KeptPrefix:
    """The tokens of a prompt head and the model state after evaluating them."""

    tokens: tuple[int, ...]
    state: bytes


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixStore:
    """Kept prefixes of one llama.cpp model (most recently used last); not thread-safe: call it under the
    model's lock."""

    def __init__(self, limit: int = MAX_PREFIXES):
        self.limit = limit
        self._kept: OrderedDict[tuple[int, ...], KeptPrefix] = OrderedDict()
        self.restores = 0

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, llama: Any, tokens: list[int]) -> KeptPrefix | None:
        """Evaluate `tokens` from an empty context and keep the state (None if llama.cpp cannot copy it)."""
        key = tuple(tokens)
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        llama.reset()
        llama.eval(list(tokens))
        state = _copy_out(llama)
        if state is None:
            return None
        kept = KeptPrefix(key, state)
        self._kept[key] = kept
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)
        return kept

    def best_for(self, tokens: list[int]) -> KeptPrefix | None:
        """The longest kept prefix that `tokens` start with (and extend), if any."""
        best = None
        for kept in self._kept.values():
            n = len(kept.tokens)
            if n < len(tokens) and tuple(tokens[:n]) == kept.tokens and (best is None or n > len(best.tokens)):
                best = kept
        return best

    def prepare(self, llama: Any, tokens: list[int]) -> int:
        """Before evaluating the prompt `tokens`: copy back the longest kept prefix it starts with when the
        model holds less of it; returns the number of prompt tokens the model now holds (0: nothing changed)."""
        kept = self.best_for(tokens)
        if kept is None:
            return 0
        held = common_prefix(list(llama.input_ids[: llama.n_tokens]), tokens)
        if held >= len(kept.tokens):
            return 0
        if not _copy_in(llama, kept):
            return 0
        self._kept.move_to_end(kept.tokens)
        self.restores += 1
        return len(kept.tokens)


def template_formatter(llama: Any) -> Any:
    """The formatter of the GGUF's own chat template (False when the model is served by another chat format,
    whose prompts this module does not render)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if llama.chat_format != "chat_template.default" or llama.chat_handler is not None or not template:
        return False
    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(template=template, eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                               bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
                               stop_token_ids=[eos])


def _copy_out(llama: Any) -> bytes | None:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llama.ctx, SEQ)
    if not size:
        return None
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llama.ctx, buffer, size, SEQ)
    return bytes(buffer[:written]) if written else None


def _copy_in(llama: Any, kept: KeptPrefix) -> bool:
    """Replace what the model holds with the kept prefix; False (and an empty context) if llama.cpp refuses."""
    import llama_cpp

    llama.reset()
    llama._ctx.kv_cache_seq_rm(SEQ, 0, -1)
    buffer = (ctypes.c_uint8 * len(kept.state)).from_buffer_copy(kept.state)
    if not llama_cpp.llama_state_seq_set_data(llama.ctx, buffer, len(kept.state), SEQ):
        llama._ctx.kv_cache_seq_rm(SEQ, 0, -1)
        return False
    n = len(kept.tokens)
    llama.input_ids[:n] = kept.tokens
    llama.n_tokens = n
    llama._requires_eval = True  # the logits are not restored: the rest of the prompt is decoded first
    return True
