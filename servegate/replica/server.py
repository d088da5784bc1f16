"""A replica process: load the model, then serve it until told to stop or orphaned."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import uvicorn

from servegate.replica.app import build_app
from servegate.replica.buildlog import BuildLog
from servegate.replica.model import load

EXIT_LOAD_FAILED = 3
EXIT_ORPHANED = 4
_PARENT_POLL_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Never outlive the gateway: the kernel signals us when it dies (Linux), and a watcher
    thread covers the rest (and the window before the kernel hook was set)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_replica(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    uds: Path | None = None,
    build_log_path: Path | None = None,
    cache_dir: Path | None = None,
    parent_pid: int | None = None,
    max_request_bytes: int,
    concurrency: int,
) -> int:
    """Serve ``model_uri``; returns the process exit code."""
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    build_log = BuildLog(build_log_path)
    try:
        model, artifacts = load(model_uri, cache_dir, build_log)
    except Exception as error:
        traceback.print_exc()
        build_log.write(f"failed to load {model_uri}: {type(error).__name__}: {error}")
        return EXIT_LOAD_FAILED
    app = build_app(model, max_request_bytes, concurrency)
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
        log_level="warning",
        timeout_graceful_shutdown=30,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        artifacts.cleanup()
    return 0
