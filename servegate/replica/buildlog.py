"""The build log: each step of getting a model ready to serve, with its time.

Lines are ``<UTC timestamp> <step>``, written to stderr and, when the gateway gave a path, to
that file, which is what a user reads when a replica does not come up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servegate.observability.full_disk import append_line


class BuildLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        if self.path is not None:
            append_line(self.path, line)  # lost if the disk is full: the model still loads

    @contextmanager
    def timed(self, done: str) -> Iterator[None]:
        """Run the block, then log ``done`` with the seconds it took (nothing if it failed)."""
        started = time.perf_counter()
        yield
        self.write(f"{done} in {time.perf_counter() - started:.2f}s")
