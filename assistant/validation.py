"""Checks on shopper input before any work is done: text only, not empty, not too long."""

from __future__ import annotations

import unicodedata

from tools.core.errors import InputError


def clean_query(raw: str | bytes, max_chars: int) -> str:
    """Return the query as clean text, or raise InputError saying exactly what is wrong with it."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("the query is not UTF-8 text (binary data?)") from None
    if not isinstance(raw, str):
        raise InputError(f"the query must be text, got {type(raw).__name__}")
    if "\x00" in raw or _control_share(raw) > 0.1:
        raise InputError("the query contains binary/control characters; send plain text")
    text = " ".join(raw.split())
    if not text:
        raise InputError("the query is empty; type what you are looking for")
    if len(text) > max_chars:
        raise InputError(
            f"the query is {len(text)} characters long; the limit is {max_chars} (setting SHOPQUERY_MAX_QUERY_CHARS)"
        )
    return text


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\t\n\r")
    return bad / len(text)
