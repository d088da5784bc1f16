"""Logging that survives a full disk.

A replica's stdout and stderr are its log file. When that file's disk fills up, every write
fails with ENOSPC, and a model that prints — or a logger that logs — would fail the request
it is answering. Here a replica's standard streams drop what cannot be written instead,
count it (``servegate_log_bytes_dropped_total``), and once writing works again put one line
in the log saying how much was lost. Build-log lines are appended the same way.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
FULL_NOTE = "The disk holding this log is full: new lines could not be written."


def is_full(error: OSError) -> bool:
    return error.errno in _FULL


class _DroppingWriter(io.RawIOBase):
    """Writes to a file descriptor; what a full disk refuses is dropped and counted."""

    def __init__(self, descriptor: int, dropped: Callable[[int], None]) -> None:
        super().__init__()
        self.descriptor = descriptor
        self.dropped = dropped
        self.lost = 0  # bytes dropped since the last write that worked

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.descriptor

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        size = len(data)
        try:
            if self.lost:
                self._own_note()
            return os.write(self.descriptor, data)
        except OSError as error:
            if not is_full(error):
                raise
            self.lost += size
            self.dropped(size)
            return size

    def _own_note(self) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        note = f"{stamp} servegate: {self.lost} bytes of log could not be written (disk full)\n"
        os.write(self.descriptor, note.encode())
        self.lost = 0


def drop_when_full(dropped: Callable[[int], None]) -> None:
    """Make this process's ``sys.stdout`` and ``sys.stderr`` drop, not raise, on a full disk
    (before any logging handler takes a reference to them)."""
    for name, descriptor in (("stdout", 1), ("stderr", 2)):
        stream = io.TextIOWrapper(
            io.BufferedWriter(_DroppingWriter(descriptor, dropped)),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
            write_through=True,
        )
        setattr(sys, name, stream)


def append_line(path: Path, line: str) -> bool:
    """Append ``line`` to ``path``; False if the disk was full (the line is lost)."""
    try:
        with path.open("a") as handle:
            handle.write(line)
    except OSError as error:
        if not is_full(error):
            raise
        return False
    return True


def disk_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has no room left for an ordinary user."""
    try:
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False
