"""A replica with ``env_manager`` virtualenv: build (or reuse) the model's environment, then
run the very same command again under that environment's Python.

The model's requirements come with its artifacts, so this process (the server's Python)
fetches them, which also fills the artifact cache the relaunched replica loads from. It must
have been started by its own command line, never forked from the zygote, whose libraries
are the server's.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import NoReturn

from servegate.environments import EnvManager
from servegate.environments.requirements import read_requirements
from servegate.environments.virtualenv import ensure_virtualenv
from servegate.replica.artifacts import fetch_artifacts
from servegate.replica.buildlog import BuildLog

_TERMINATED = 128 + signal.SIGTERM


def virtualenv_python(
    model_uri: str, cache_dir: Path | None, envs_dir: Path, build_log: BuildLog
) -> Path:
    """The Python of ``model_uri``'s virtualenv; raises ``EnvironmentFailed`` (or an
    MLflow error fetching the model) if there is none to be had."""
    signal.signal(signal.SIGTERM, _stop_build)
    artifacts = fetch_artifacts(model_uri, cache_dir, build_log)
    try:
        return ensure_virtualenv(read_requirements(artifacts.path), envs_dir, build_log)
    finally:
        artifacts.cleanup()


def relaunch_in(python: Path) -> NoReturn:
    """Replace this process with its own command run by ``python``, as a local replica (same
    pid, so the gateway keeps watching it); raises ``OSError`` if ``python`` cannot run."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = [str(python), *sys.orig_argv[1:], f"--env-manager={EnvManager.LOCAL.value}"]
    os.execv(python, command)


def _stop_build(signum: int, frame: FrameType | None) -> None:
    """Stopping while uv builds: unwind, so uv is killed and its half-made folder removed."""
    raise SystemExit(_TERMINATED)
