"""The build log: each step of getting a model ready to serve, with its time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BuildLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(line)

    @contextmanager
    def step(self, doing: str, done: str) -> Iterator[None]:
        """Log ``doing``, run the block, then log ``done`` with the seconds it took."""
        self.write(doing)
        started = time.perf_counter()
        yield
        self.write(f"{done} in {time.perf_counter() - started:.2f}s")
