"""A replica gives back the memory loading freed (each replica's unique memory is a target),
and keeps the collector off what loading kept (a full collection's pause is a request's)."""

from __future__ import annotations

import subprocess
import sys

# Many malloc'd blocks (bytes over 512 B skip Python's small-object allocator), most freed and
# a few kept all along the heap: glibc cannot shrink it by itself, as after loading a model.
_FRAGMENTED_THEN_RETURNED = """
import gc
import os
from servegate.replica.memory import settle_after_loading

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

blocks = [bytes(2048) for _ in range(60_000)]
kept = blocks[::100]
del blocks
before = rss_mb()
settle_after_loading()
print(before, rss_mb(), gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_memory_freed_by_loading_goes_back_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_THEN_RETURNED],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    before, after, frozen, in_view = (float(value) for value in out.split())
    assert before - after > 80, f"RSS {before:.0f} MB before, {after:.0f} MB after"
    assert frozen > 5000, f"only {frozen:.0f} objects frozen (the modules alone are more)"
    assert in_view < 100, f"{in_view:.0f} objects left for full collections to walk"
