"""Handing back the memory a replica's model loading freed."""

from __future__ import annotations

import ctypes
import gc


def return_freed_memory() -> None:
    """Hand the pages loading freed back to the system.

    Loading a model reads and parses its files (a forest's skops schema alone is megabytes
    of JSON); glibc keeps the freed memory between live objects, where it counts as this
    replica's own until reused. ``malloc_trim`` releases it (~2 MB per forest replica).
    """
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return
    trim(0)
