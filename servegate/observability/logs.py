"""Replica log files: where they live (``$SERVEGATE_HOME/logs/{endpoints|models}/NAME/``),
how they rotate, and how they are read back.

Rotation is done by renaming: one process (the leading gateway's ``LogRotator``) renames
``x.log`` to ``x.log.1`` (and so on) once it is too big, and each writer notices that its path
now names another file (``reopen_when_rotated``) and reopens it. Whatever a writer writes in
between lands at the end of ``x.log.1``: nothing is lost, unlike copy-and-truncate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

logger = logging.getLogger(__name__)

ROTATION_CHECK_S = 2.0
REOPEN_CHECK_S = 1.0
FOLLOW_POLL_S = 0.25
DRAIN_QUIET_S = 10.0
_MAX_DRAINING = 4
_CHUNK = 64 * 1024


def endpoint_group(endpoint: str) -> str:
    return f"endpoints/{endpoint}"


def model_group(model_name: str) -> str:
    return f"models/{quote(model_name, safe='')}"


class LogPaths:
    def __init__(self, root: Path) -> None:
        self.root = root

    def log(self, group: str, replica: str) -> Path:
        """The replica's stdout and stderr."""
        return self.root / group / f"{quote(replica, safe='@')}.log"

    def build_log(self, group: str, replica: str) -> Path:
        """Model download and load steps, with timings."""
        return self.root / group / f"{quote(replica, safe='@')}.build.log"


def backup(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def rotate(path: Path, backups: int) -> None:
    """``path`` becomes ``path.1``, ``path.1`` becomes ``path.2``, ..., the oldest goes."""
    for number in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            backup(path, number).rename(backup(path, number + 1))
    if backups > 0:
        path.rename(backup(path, 1))
    else:
        path.unlink()


class LogRotator:
    """Rotates every ``*.log`` under ``root`` bigger than ``max_bytes``, keeping ``backups``."""

    def __init__(self, root: Path, max_bytes: int, backups: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.backups = backups

    def check(self) -> list[Path]:
        """Rotate what is too big now; the paths rotated."""
        rotated = []
        for path in self.root.rglob("*.log"):
            try:
                if path.stat().st_size > self.max_bytes:
                    rotate(path, self.backups)
                    rotated.append(path)
            except FileNotFoundError:
                continue  # removed meanwhile
            except OSError as error:  # e.g. a full or read-only disk: report, keep serving
                logger.warning("could not rotate %s: %s", path, error)
        return rotated

    async def run(self) -> None:
        while True:
            await asyncio.sleep(ROTATION_CHECK_S)
            await asyncio.to_thread(self.check)


def reopen_when_rotated(path: Path, descriptors: tuple[int, ...] = (1, 2)) -> None:
    """In a writer process whose ``descriptors`` are open on ``path``: a thread that, once the
    file is renamed away, opens ``path`` anew onto them (creating it)."""

    def same_file() -> bool:
        try:
            return os.path.samestat(os.stat(path), os.fstat(descriptors[0]))
        except OSError:
            return False

    def watch() -> None:
        while True:
            threading.Event().wait(REOPEN_CHECK_S)
            if same_file():
                continue
            try:
                fresh = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError:
                continue  # the disk may be full or gone; keep writing where we were
            for descriptor in descriptors:
                os.dup2(fresh, descriptor)
            os.close(fresh)

    threading.Thread(target=watch, name="log-reopen", daemon=True).start()


def tail(path: Path, limit: int) -> bytes:
    """The last ``limit`` bytes written to ``path``, reaching into ``path.1`` if ``path`` was
    rotated moments ago."""
    chunks: list[bytes] = []
    wanted = limit
    for candidate in (path, backup(path, 1)):
        try:
            with candidate.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - wanted))
                chunk = handle.read(wanted)
        except FileNotFoundError:
            continue
        chunks.insert(0, chunk)
        wanted -= len(chunk)
        if wanted <= 0:
            break
    return b"".join(chunks)


async def follow(path: Path, start_bytes: int) -> AsyncIterator[bytes]:
    """The last ``start_bytes`` of ``path``, then whatever is written to it, across rotations,
    until the consumer stops. A rotated-away file is still read until it has been quiet for
    ``DRAIN_QUIET_S``: its writers move to the new file within about ``REOPEN_CHECK_S``, later
    on a busy machine."""
    current = await asyncio.to_thread(_open, path)
    if current is None:
        yield await asyncio.to_thread(tail, path, start_bytes)
    else:
        size = current.seek(0, os.SEEK_END)
        if size < start_bytes:
            yield await asyncio.to_thread(tail, backup(path, 1), start_bytes - size)
        current.seek(max(0, size - start_bytes))
    loop = asyncio.get_running_loop()
    draining: dict[BinaryIO, float] = {}  # rotated-away files, with when they last grew
    try:
        while True:
            for handle, grew in list(draining.items()):
                if chunk := await asyncio.to_thread(handle.read, _CHUNK):
                    draining[handle] = loop.time()
                    yield chunk
                elif loop.time() - grew > DRAIN_QUIET_S or len(draining) > _MAX_DRAINING:
                    handle.close()
                    del draining[handle]
            if current is not None:
                if chunk := await asyncio.to_thread(current.read, _CHUNK):
                    yield chunk
                    continue
                if not await asyncio.to_thread(_still_names, path, current):
                    draining[current] = loop.time()
                    current = None
            if current is None and (current := await asyncio.to_thread(_open, path)) is not None:
                continue
            await asyncio.sleep(FOLLOW_POLL_S)
    finally:
        for handle in [current, *draining]:
            if handle is not None:
                handle.close()


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _still_names(path: Path, handle: BinaryIO) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(handle.fileno()))
    except OSError:
        return False
