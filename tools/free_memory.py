"""Freed heap memory back to the operating system. Loading the models builds large temporary buffers (file
bytes, dequantised float tables, tokenizer copies); glibc keeps much of what is freed inside the process, where
it still counts as resident memory, until it is asked to trim."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def release_free_memory() -> bool:
    """Collect garbage and return free heap pages to the OS (glibc `malloc_trim`); False where the C library
    has no such call (then nothing is done beyond the collection)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
