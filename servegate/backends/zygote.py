"""The gateway's side of the warm zygote (``servegate.replica.zygote``): fork replicas from it.

A ``ForkedProcess`` offers what the local backend uses of ``asyncio.subprocess.Process``
(``pid``, ``returncode``, ``wait``, ``terminate``, ``kill``); its exit code comes from the
zygote, which is its parent. Should the zygote die, the replicas it forked keep serving and
their exits are still noticed (through a pidfd), though their exit codes are then unknown;
the next fork starts a new zygote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from pathlib import Path

logger = logging.getLogger(__name__)

UNKNOWN_EXIT = 255
_LINE_LIMIT = 1 << 20


class ZygoteUnavailable(Exception):
    """The zygote could not fork (it died or never started)."""


class ForkedProcess:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = asyncio.get_running_loop().create_future()

    def _set_exit(self, code: int) -> None:
        if not self._exited.done():
            self.returncode = code
            self._exited.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def watch_without_parent(self) -> None:
        """The zygote is gone: notice the exit through a pidfd instead (code unknown)."""
        if self._exited.done():
            return
        try:
            descriptor = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self._set_exit(UNKNOWN_EXIT)
            return
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(descriptor)
            os.close(descriptor)
            self._set_exit(UNKNOWN_EXIT)

        loop.add_reader(descriptor, exited)


class Zygote:
    """One zygote process per leading gateway process, started on first use."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.environment = environment  # the zygote's own: no gateway settings in it
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._forks: deque[asyncio.Future[int]] = deque()
        self._children: dict[int, ForkedProcess] = {}
        self._early_exits: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def _ensure_running(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "servegate.replica.zygote",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.environment,
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        self._reader = asyncio.get_running_loop().create_task(self._read(self._process))
        logger.info("started the replica zygote (pid %d)", self._process.pid)
        return self._process

    async def warm(self) -> None:
        """Start the zygote ahead of the first replica, so that one starts warm too."""
        async with self._lock:
            await self._ensure_running()

    async def fork(self, argv: list[str], env: dict[str, str], log: Path) -> ForkedProcess:
        """A new replica process running ``servegate ARGV`` with exactly ``env``."""
        async with self._lock:
            process = await self._ensure_running()
            assert process.stdin is not None
            answer = asyncio.get_running_loop().create_future()
            self._forks.append(answer)
            line = json.dumps({"argv": argv, "env": env, "log": str(log)}) + "\n"
            try:
                process.stdin.write(line.encode())
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as error:
                raise ZygoteUnavailable("the replica zygote is not running") from error
            pid = await answer
            child = ForkedProcess(pid)
            self._children[pid] = child
            if pid in self._early_exits:
                child._set_exit(self._early_exits.pop(pid))
            return child

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            message = json.loads(line)
            if "pid" in message:
                self._forks.popleft().set_result(message["pid"])
            elif (child := self._children.pop(message["exited"], None)) is not None:
                child._set_exit(message["code"])
            else:  # exited before fork() registered it
                self._early_exits[message["exited"]] = message["code"]
        await process.wait()
        logger.error("the replica zygote exited with %s", process.returncode)
        while self._forks:
            self._forks.popleft().set_exception(ZygoteUnavailable("the replica zygote exited"))
        children, self._children = self._children, {}
        for child in children.values():
            child.watch_without_parent()

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except asyncio.TimeoutError:
                self._process.kill()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
