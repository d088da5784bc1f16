"""The warm zygote: a process that has imported what replicas need, and forks them.

Importing MLflow, pandas, scikit-learn and the server stack takes seconds; a replica forked
from a process that already did it starts with all of that in place, so its start is loading
the model only, and its pages stay shared with the zygote until written (``gc.freeze`` keeps
the collector from writing to them), so each replica costs little unique memory.

The gateway starts ``python -m servegate.replica.zygote`` with a clean environment (none of
the gateway's own settings: replicas must not find them in ``/proc/self/environ``) and talks
JSON lines: on stdin ``{"argv": [...], "env": {...}, "log": path}``, one per replica to fork;
on stdout ``{"pid": N}`` for each, in order, and ``{"exited": N, "code": C}`` when one ends
(C is negative for a signal, as in ``subprocess``). The zygote is single-threaded (it forks)
and waits on stdin and on SIGCHLD alike; it exits when stdin closes.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import selectors
import signal
import sys
from typing import Any

import setproctitle

# What a replica imports before it can load a model; a model's own libraries (xgboost, ...)
# are imported when a replica loads one, in that replica only.
WARM_MODULES = (
    "servegate.cli",
    "servegate.replica.server",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.uvloop",
    "anyio._backends._asyncio",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.tree",
    "skops.io",
)


def _warm() -> None:
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            sys.stderr.write(f"zygote: could not preload {name}: {error}\n")
    gc.collect()
    gc.freeze()


def _become_replica(request: dict[str, Any]) -> int:
    """In the forked child: the replica command's process, as if started afresh."""
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    argv = ["servegate", *request["argv"]]
    setproctitle.setproctitle(" ".join(argv))  # before the environment changes under it
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sys.argv = argv
    from servegate.cli import app

    try:
        app(args=request["argv"], prog_name="servegate")
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # noqa: BLE001 - a replica that crashed says why in its log
        import traceback

        traceback.print_exc()
        return 1
    return 0


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve() -> None:
    _warm()
    out = os.fdopen(1, "w", buffering=1)
    stdin = os.fdopen(0, "rb", buffering=0)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fileobj is stdin:
                chunk = os.read(0, 65536)
                if not chunk:
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        selector.close()
                        code = _become_replica(request)
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(code)
                    out.write(json.dumps({"pid": pid}) + "\n")
            else:
                os.read(wake_read, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    out.write(json.dumps({"exited": pid, "code": _exit_code(status)}) + "\n")


if __name__ == "__main__":
    serve()
