"""Finding a gateway's replica processes through /proc; stopping a CLI as Ctrl-C does."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def launcher_of(replica: int) -> int | None:
    """The gateway process that started a replica: its parent, or its zygote's parent."""
    parent = parent_of(replica)
    if parent is not None and "servegate.replica.zygote" in _cmdline(parent):
        return parent_of(parent)
    return parent


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def replica_pids(gateway_pid: int | None = None, under: str | None = None) -> list[int]:
    """Live ``servegate replica`` processes: started by one gateway, or with a path under
    ``under`` (a gateway's home) on their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        command = _cmdline(pid)
        words = " ".join(command).split()  # a forked replica's title is one string
        if words[:2] != ["servegate", "replica"] and words[2:4] != ["servegate", "replica"]:
            continue
        if gateway_pid is not None and launcher_of(pid) != gateway_pid:
            continue
        if under is not None and not any(under in part for part in command):
            continue
        found.append(pid)
    return found


def single_replica(home: Path, timeout: float = 30) -> int:
    """The one replica process under a gateway's home, once there is exactly one (a replaced
    one may take a moment to drain)."""
    deadline = time.monotonic() + timeout
    while len(found := replica_pids(under=str(home))) != 1:
        assert time.monotonic() < deadline, f"replicas: {found}"
        time.sleep(0.1)
    return found[0]


def worker_pids(gateway_pid: int) -> list[int]:
    """The worker processes of a ``servegate serve --workers N`` gateway."""
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit()
        and parent_of(int(entry)) == gateway_pid
        and any("spawn_main" in part for part in _cmdline(int(entry)))
    ]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt(process: subprocess.Popen[Any], timeout_s: float, under: str | None = None) -> None:
    """Stop a CLI with Ctrl-C's signal. One still running after ``timeout_s`` is killed, with
    the replicas under ``under`` (its home), so a failing test leaves nothing running, and the
    test fails."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        for pid in replica_pids(under=under) if under is not None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"still running {timeout_s:g}s after Ctrl-C's signal") from None
