"""Finding a gateway's replica processes through /proc."""

from __future__ import annotations

import os
from pathlib import Path


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def replica_pids(gateway_pid: int | None = None, under: str | None = None) -> list[int]:
    """Live ``servegate replica`` processes: children of one gateway, or with a path under
    ``under`` (a gateway's home) on their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        command = _cmdline(pid)
        if "servegate" not in command or "replica" not in command:
            continue
        if gateway_pid is not None and _parent_of(pid) != gateway_pid:
            continue
        if under is not None and not any(under in part for part in command):
            continue
        found.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
