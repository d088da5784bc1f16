"""The gateway's side of a replica's build log (``servegate.replica.buildlog`` writes the
steps): each start begins with a line of its own, so the last line after it says how far the
replica got, or why it failed."""

from __future__ import annotations

import time
from pathlib import Path

from servegate.observability.full_disk import append_line

_STARTING = "starting replica for"


def begin_build_log(path: Path, model_uri: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_step(path, f"{_STARTING} {model_uri}")


def write_step(path: Path, step: str) -> None:
    """A timestamped line of the gateway's own (lost if the disk is full)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    append_line(path, f"{stamp} {step}\n")


def last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""


def last_step(build_log: Path) -> str | None:
    """The replica's last step since it started, or None if it wrote none."""
    step = last_line(build_log)
    return None if not step or _STARTING in step else step
