"""Virtualenvs built with uv, one per requirements digest, shared by every replica.

A build happens once per digest: concurrent starts of the same requirements (replicas of one
model, restarts, other gateways on this home) wait on a file lock for the first one's build.
It happens in a temporary folder renamed into place when complete, so a failed or
interrupted build never leaves a half-made environment behind to be reused.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uv

import servegate
from servegate.environments.manager import EnvironmentFailed
from servegate.environments.package_index import PackageIndex
from servegate.environments.requirements import EnvironmentRequirements
from servegate.replica.buildlog import BuildLog

_INSTALLED = re.compile(r"Installed (\d+) packages?")
_STAGING = ".build-"
_MAX_REASON = 1200


def ensure_virtualenv(
    requirements: EnvironmentRequirements, envs_dir: Path, build_log: BuildLog
) -> Path:
    """The Python of the environment ``requirements`` describe, built first if need be."""
    digest = requirements.digest
    target = envs_dir / digest
    envs_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(envs_dir / f"{digest}.lock", build_log, digest):
        if python_of(target).exists():
            build_log.write(f"environment: reusing cached {digest}")
            return python_of(target)
        if target.is_dir():  # its base Python was removed or moved: build it again
            build_log.write(f"environment: rebuilding {digest}: its Python is gone")
            shutil.rmtree(target)
        for stale in envs_dir.glob(f"{_STAGING}{digest}-*"):  # left by a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        build_log.write(f"environment: creating virtualenv with uv for requirements {digest}")
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(dir=envs_dir, prefix=f"{_STAGING}{digest}-"))
        try:
            installed = _build(staging, requirements)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        build_log.write(
            f"environment: installed {installed} packages in {time.perf_counter() - started:.2f}s"
        )
    return python_of(target)


def python_of(environment: Path) -> Path:
    return environment / "bin" / "python"


@contextmanager
def _exclusive(lock: Path, build_log: BuildLog, digest: str) -> Iterator[None]:
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            build_log.write(f"environment: waiting for another build of {digest}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(folder: Path, requirements: EnvironmentRequirements) -> int:
    """Make the virtualenv in ``folder``; returns how many packages went in."""
    index = PackageIndex.from_pip_config()
    env = {**os.environ, **index.env, "NO_COLOR": "1"}
    # --relocatable: the folder is renamed once built.
    _uv(
        "create the virtualenv",
        ["venv", "--relocatable", "--no-project", "--python", sys.executable, str(folder)],
        env,
    )
    output = _uv(
        "install the model's requirements",
        [
            "pip",
            "install",
            "--python",
            str(python_of(folder)),
            *index.args,
            "-r",
            str(requirements.model_file),
            *requirements.servegate,
        ],
        env,
    )
    _link_servegate(folder)
    found = _INSTALLED.search(output)
    return int(found[1]) if found else 0


def _link_servegate(folder: Path) -> None:
    """Make the running servegate importable in the environment: the replica there runs the
    gateway's very code, whichever way servegate was installed, with no build step."""
    site_packages = next((folder / "lib").glob("python*/site-packages"))
    (site_packages / "servegate").symlink_to(Path(servegate.__file__).parent)


def _uv(what: str, args: list[str], env: dict[str, str]) -> str:
    """Run uv; its output goes to this process's stderr (the replica's log) as it comes."""
    process = subprocess.Popen(
        [uv.find_uv_bin(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    output = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(line)
            sys.stderr.flush()
            output.append(line)
        code = process.wait()
    except BaseException:  # stopped: take uv down too
        process.kill()
        process.wait()
        raise
    if code != 0:
        raise EnvironmentFailed(f"uv could not {what}: {_reason(''.join(output))}")
    return "".join(output)


def _reason(output: str) -> str:
    """uv's error and its causes on one line, without the hints that follow them."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(("error:", "×"))),
        max(len(lines) - 5, 0),
    )
    kept = []
    for line in lines[start:]:
        if line.startswith("hint:"):
            break
        kept.append(line)
    reason = " ".join(" ".join(kept).split()).removeprefix("error: ")
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"
