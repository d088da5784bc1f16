"""A replica process: load the model, then serve it until told to stop or orphaned."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from servegate.observability.log_format import LogFormat, configure_logging
from servegate.observability.logs import reopen_when_rotated
from servegate.replica.buildlog import BuildLog
from servegate.replica.served import LoadFailed, ReplicaOptions, load_served_app

EXIT_LOAD_FAILED = 3
EXIT_ORPHANED = 4
_PARENT_POLL_S = 0.5
_ORPHAN_GRACE_S = 5.0  # nobody reads in-flight answers once the gateway is gone
_PR_SET_PDEATHSIG = 1


def _parent_alive(parent_pid: int, original_ppid: int) -> bool:
    """False once we were re-parented or ``parent_pid`` is gone (a zombie counts as gone)."""
    if os.getppid() != original_ppid:
        return False
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{parent_pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _die_with_parent(parent_pid: int) -> None:
    """Never outlive the gateway: a watcher thread stops the replica once ``parent_pid`` is
    gone, first gracefully (SIGTERM), then for certain; when the gateway is our real parent,
    the kernel also signals us as it dies (Linux)."""
    original_ppid = os.getppid()
    if sys.platform.startswith("linux") and parent_pid == original_ppid:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while _parent_alive(parent_pid, original_ppid):
            time.sleep(_PARENT_POLL_S)
        sys.stderr.write(f"parent process {parent_pid} is gone; stopping\n")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(_ORPHAN_GRACE_S)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_replica(
    model_uri: str,
    options: ReplicaOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    uds: Path | None = None,
    build_log_path: Path | None = None,
    cache_dir: Path | None = None,
    parent_pid: int | None = None,
    log_file: Path | None = None,
    log_format: LogFormat = LogFormat.TEXT,
) -> int:
    """Load ``model_uri``, then serve it until SIGTERM; returns the process exit code
    (0 after a graceful stop, ``EXIT_LOAD_FAILED`` if the model never loaded, in which case
    nothing ever listened)."""
    configure_logging(log_format)
    if log_file is not None:
        reopen_when_rotated(log_file)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    build_log = BuildLog(build_log_path)
    try:
        served = load_served_app(model_uri, cache_dir, build_log, options)
    except LoadFailed:
        return EXIT_LOAD_FAILED
    return _serve(served.app, host, port, uds, build_log, served.cleanup)


def _serve(
    app: Starlette,
    host: str,
    port: int,
    uds: Path | None,
    build_log: BuildLog,
    cleanup: Callable[[], None],
) -> int:
    where = f"unix:{uds}" if uds else f"http://{host}:{port}"
    build_log.write(f"serving on {where}")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        uds=str(uds) if uds else None,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=30,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        cleanup()
    return 0
