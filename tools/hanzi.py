"""Traditional -> simplified Chinese, one converter for the catalog at ingest and for queries (OpenCC's t2s
tables, Apache-2.0). A normalisation, not a spelling correction: 鼻頭 and 鼻头 are the same word."""

from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _converter():
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - opencc is a pinned dependency
        raise ImportError("traditional-Chinese normalisation needs the 'opencc' package: pip install opencc") from exc
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """The text with traditional Chinese characters turned into simplified ones; other text is unchanged."""
    if not text or all(ord(ch) < 0x3400 for ch in text):
        return text
    converter = _converter()
    with _lock:  # the converter object is not documented as thread-safe
        return converter.convert(text)


def is_traditional(text: str) -> bool:
    """True when simplifying the text changes it (it holds traditional-only characters)."""
    return to_simplified(text) != text
