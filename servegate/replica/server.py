"""A replica process: load the model, then serve it until told to stop or orphaned."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp
from threadpoolctl import threadpool_limits

from servegate.backends.base import FEATURE_SPEC_SCHEME
from servegate.environments import EnvManager
from servegate.observability import metrics
from servegate.observability.full_disk import drop_when_full
from servegate.observability.log_format import LogFormat, configure_logging
from servegate.observability.logs import reopen_when_rotated
from servegate.one_write_responses import OneWriteHttpToolsProtocol
from servegate.replica.buildlog import BuildLog
from servegate.replica.served import LoadFailed, ReplicaOptions, load_served_app

EXIT_LOAD_FAILED = 3
EXIT_ORPHANED = 4
_PARENT_POLL_S = 0.5
_ORPHAN_GRACE_S = 5.0  # nobody reads in-flight answers once the gateway is gone
_PR_SET_PDEATHSIG = 1
THREADS_VARIABLE = "OMP_NUM_THREADS"


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
    env_manager: EnvManager = EnvManager.LOCAL,
    envs_dir: Path | None = None,
) -> int:
    """Load ``model_uri``, then serve it until SIGTERM; returns the process exit code
    (0 after a graceful stop, ``EXIT_LOAD_FAILED`` if the model never loaded, in which case
    nothing ever listened). With ``env_manager`` virtualenv, the process first becomes the
    same replica run by the Python of the model's environment (kept in ``envs_dir``)."""
    if log_file is not None:
        drop_when_full(metrics.LOG_BYTES_DROPPED.labels(*options.metrics_labels).inc)
        reopen_when_rotated(log_file)
    configure_logging(log_format)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    build_log = BuildLog(build_log_path)
    if env_manager is EnvManager.VIRTUALENV and not model_uri.startswith(FEATURE_SPEC_SCHEME):
        # Imported here: building needs uv, which a replica inside an environment has not.
        from servegate.replica.environment import relaunch_in, virtualenv_python

        if envs_dir is None:
            raise ValueError("a virtualenv replica needs envs_dir")
        try:
            relaunch_in(virtualenv_python(model_uri, cache_dir, envs_dir, build_log))
        except Exception as error:
            traceback.print_exc()
            build_log.write(f"environment: failed: {_one_line(error)}")
            return EXIT_LOAD_FAILED
    try:
        served = load_served_app(model_uri, cache_dir, build_log, options)
    except LoadFailed:
        return EXIT_LOAD_FAILED
    _limit_model_threads(build_log)
    return _serve(served.app, host, port, uds, build_log, served.cleanup)


def _limit_model_threads(build_log: BuildLog) -> None:
    """The model's OpenMP computes on ``OMP_NUM_THREADS`` threads, 1 unless the replica's
    environment sets it: the pools loaded by now, the model's library's and those loaded
    before the variable could be read (a replica forked from the zygote has scikit-learn's
    OpenMP, which XGBoost shares).

    Requests run side by side in replicas, processes the autoscaler adds, on cores the gateway
    and the other replicas share; a model's own threads only got in their way. XGBoost's OpenMP
    team (all cores by default) spent 646 µs of CPU and 342 µs to predict one row with a
    100-tree classifier, 233 µs and 233 µs on one thread; more threads helped no batch under a
    thousand rows. A LightGBM Booster on a busy machine: 4.9 ms against 30 µs. Predictions are
    the same on any number of threads. BLAS is left alone: held to one thread too, it did no
    better (a scikit-learn pipeline's replica: 259-268 µs of CPU a request against 242-246 in
    one A/B, level in the next)."""
    value = os.environ.get(THREADS_VARIABLE, "1")
    if not value.isdigit() or int(value) < 1:
        build_log.write(f"threads: {THREADS_VARIABLE}={value!r} is not a count; libraries' own")
        return
    threadpool_limits(int(value), user_api="openmp")
    build_log.write(f"threads: {value} ({THREADS_VARIABLE})")


def _one_line(error: Exception) -> str:
    """The error's message on one line: the build log's last line is what users are shown."""
    return " ".join(str(getattr(error, "message", error)).split())


def _serve(
    app: ASGIApp,
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
        http=OneWriteHttpToolsProtocol,
        ws="none",  # nothing here speaks WebSocket: not even its library is imported
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
