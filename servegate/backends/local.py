"""The embedded default backend: each replica a process listening on a Unix socket.

Replicas are forked from a warm zygote (``servegate.backends.zygote``) when one is given,
else started as ``python -m servegate replica ...``; either way with the same arguments, the
same environment and the same log files. A replica with ``env_manager`` virtualenv always
starts with its own command: it runs the model's libraries, not the zygote's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from servegate.backends.base import (
    FEATURE_SPEC_SCHEME,
    ReplicaHandle,
    ReplicaSpec,
    ReplicaStatus,
)
from servegate.backends.build_logs import begin_build_log, last_line, last_step
from servegate.backends.clients import ReplicaClient
from servegate.backends.zygote import ForkedProcess, Zygote, ZygoteUnavailable
from servegate.environments import EnvManager
from servegate.errors import ServegateError
from servegate.observability import metrics
from servegate.observability.logs import LogPaths, LogRotator

logger = logging.getLogger(__name__)

# sockaddr_un holds 108 bytes; leave room for the file name.
_MAX_SOCKET_DIR = 80
_STOP_GRACE_S = 30.0
_PROBE_INTERVAL_S = 0.1

Process = asyncio.subprocess.Process | ForkedProcess


def socket_directory(run_dir: Path) -> Path:
    """``run_dir`` when its path is short enough for Unix sockets, else one under /tmp."""
    if len(str(run_dir)) <= _MAX_SOCKET_DIR:
        return run_dir
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"servegate-{os.getuid()}-{digest}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    return fallback


class LocalBackend:
    scales_replicas = False  # one process per handle; the reconciler scales

    def __init__(
        self,
        run_dir: Path,
        model_cache_dir: Path,
        log_paths: LogPaths,
        replica_env: dict[str, str],
        start_timeout_s: float,
        replica_args: list[str],
        resolve_environment: Callable[[dict[str, str]], dict[str, str]],
        zygote: Zygote | None = None,
        feature_tables: Callable[[], bytes] | None = None,
        feature_spec: Callable[[str], bytes] | None = None,
        rotator: LogRotator | None = None,
        env_manager: EnvManager = EnvManager.LOCAL,
        envs_dir: Path | None = None,
    ) -> None:
        self.socket_dir = socket_directory(run_dir)
        self.model_cache_dir = model_cache_dir
        self.log_paths = log_paths
        self.replica_env = replica_env
        self.start_timeout_s = start_timeout_s
        self.replica_args = replica_args  # flags every replica gets: input limits, logging
        self.resolve_environment = resolve_environment
        self.zygote = zygote
        self.feature_tables = feature_tables  # the definitions, as JSON, for models with lookups
        self.feature_spec = feature_spec  # a named spec, as JSON, for feature serving
        self.rotator = rotator
        self.env_manager = env_manager  # for specs that do not choose
        self.envs_dir = envs_dir  # None: the replica's default
        self._serial = itertools.count()
        self._launching: dict[ReplicaHandle, asyncio.Task[Process]] = {}
        self._processes: dict[ReplicaHandle, Process] = {}

    async def warm(self) -> None:
        """Get ready to start replicas fast (start the zygote)."""
        if self.zygote is not None:
            await self.zygote.warm()

    async def tend(self) -> None:
        """Rotate the replicas' logs, if asked to."""
        if self.rotator is not None:
            await self.rotator.run()

    async def close(self) -> None:
        if self.zygote is not None:
            await self.zygote.close()

    async def start(self, spec: ReplicaSpec, restarts: int = 0) -> ReplicaHandle:
        socket = self.socket_dir / f"r{os.getpid()}-{next(self._serial)}.sock"
        log_path = self.log_paths.log(spec.log_group, spec.served_name)
        build_log = self.log_paths.build_log(spec.log_group, spec.served_name)
        begin_build_log(build_log, spec.model_uri)
        args = [
            "replica",
            spec.model_uri,
            "--uds",
            str(socket),
            "--build-log",
            str(build_log),
            "--cache-dir",
            str(self.model_cache_dir),
            "--parent-pid",
            str(os.getpid()),
            "--concurrency",
            str(spec.concurrency),
            *self.replica_args,
            f"--log-file={log_path}",
            *batching_args(spec),
            f"--metrics-endpoint={spec.endpoint_name}",
            f"--metrics-served={spec.served_name}",
            *self._environment_args(spec),
        ]
        tables_file = socket.with_suffix(".tables.json")
        address = f"unix:{socket}"
        replica = ReplicaHandle(
            spec=spec, address=address, client=ReplicaClient(address), restarts=restarts
        )
        try:
            variables = await asyncio.to_thread(self.resolve_environment, spec.environment_vars)
            if self.feature_tables is not None:
                await asyncio.to_thread(self._write, tables_file, self.feature_tables)
                args.append(f"--feature-tables={tables_file}")
            if spec.model_uri.startswith(FEATURE_SPEC_SCHEME) and self.feature_spec is not None:
                name = spec.model_uri.removeprefix(FEATURE_SPEC_SCHEME)
                spec_file = socket.with_suffix(".spec.json")
                await asyncio.to_thread(self._write, spec_file, lambda: self.feature_spec(name))
                args.append(f"--feature-spec={spec_file}")
        except ServegateError as error:  # a referenced secret is gone
            replica.status = ReplicaStatus.FAILED
            replica.message = f"The replica could not start: {error.message}"
            return replica
        env = {**inherited_environment(), **self.replica_env, **variables}
        forkable = (spec.env_manager or self.env_manager) is EnvManager.LOCAL
        launching = asyncio.get_running_loop().create_task(
            self._launch(args, env, log_path, forkable)
        )
        self._launching[replica] = launching
        launching.add_done_callback(
            lambda task: self._launched(task, replica, socket, build_log, log_path)
        )
        return replica

    def _launched(
        self,
        task: asyncio.Task[Process],
        replica: ReplicaHandle,
        socket: Path,
        build_log: Path,
        log_path: Path,
    ) -> None:
        del self._launching[replica]
        if task.cancelled() or task.exception() is not None:
            replica.status = ReplicaStatus.FAILED
            replica.message = f"The replica could not start: {task.exception()}"
            return
        process = task.result()
        replica.pid = process.pid
        self._processes[replica] = process
        asyncio.get_running_loop().create_task(
            self._watch(replica, process, socket, build_log, log_path)
        )

    @staticmethod
    def _write(path: Path, content: Callable[[], bytes]) -> None:
        path.write_bytes(content())

    def _environment_args(self, spec: ReplicaSpec) -> list[str]:
        args = [f"--env-manager={(spec.env_manager or self.env_manager).value}"]
        if self.envs_dir is not None:
            args.append(f"--env-dir={self.envs_dir}")
        return args

    async def _launch(
        self, args: list[str], env: dict[str, str], log_path: Path, forkable: bool
    ) -> Process:
        if self.zygote is not None and forkable:
            try:
                return await self.zygote.fork(args, env, log_path)
            except ZygoteUnavailable:
                logger.warning("the zygote could not fork a replica; starting it cold")
        with log_path.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "servegate",
                *args,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    async def _watch(
        self,
        replica: ReplicaHandle,
        process: Process,
        socket: Path,
        build_log: Path,
        log_path: Path,
    ) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while replica.status is ReplicaStatus.STARTING and process.returncode is None:
            if await replica.client.ping():
                replica.status = ReplicaStatus.READY
                break
            if time.monotonic() > deadline:
                replica.message = (
                    f"The replica did not become ready within {self.start_timeout_s:.0f}s."
                )
                process.kill()
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), _PROBE_INTERVAL_S)
        code = await process.wait()
        metrics.process_gone(process.pid)
        self._processes.pop(replica, None)
        socket.unlink(missing_ok=True)
        socket.with_suffix(".tables.json").unlink(missing_ok=True)
        socket.with_suffix(".spec.json").unlink(missing_ok=True)
        if replica.status is ReplicaStatus.STOPPING:
            replica.status = ReplicaStatus.STOPPED
            return
        reason = _exit_reason(code)
        if replica.status is ReplicaStatus.READY:
            replica.status = ReplicaStatus.EXITED
            replica.message = f"The replica {reason}."
        else:
            replica.status = ReplicaStatus.FAILED
            detail = replica.message or _failure_reason(build_log, log_path)
            replica.message = f"The replica {reason} before it was ready: {detail}"
        logger.warning(
            "replica %s of %s %s", replica.spec.served_name, replica.spec.log_group, reason
        )

    async def stop(self, replica: ReplicaHandle) -> None:
        if (launching := self._launching.get(replica)) is not None:
            await asyncio.wait([launching])  # quick: a fork, or an exec
        process = self._processes.get(replica)
        if process is not None and process.returncode is None:
            replica.status = ReplicaStatus.STOPPING
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        await replica.client.close()


def inherited_environment() -> dict[str, str]:
    """The gateway's environment minus its own settings: model code runs in the replica, and
    must not read the admin token or the workers' shared settings from it."""
    return {name: value for name, value in os.environ.items() if not name.startswith("SERVEGATE_")}


def batching_args(spec: ReplicaSpec) -> list[str]:
    """The replica flags for the entity's batching settings, where it has any."""
    args = []
    if spec.max_batch_rows is not None:
        args.append(f"--max-batch-rows={spec.max_batch_rows}")
    if spec.max_batch_wait_ms is not None:
        args.append(f"--batch-wait-ms={spec.max_batch_wait_ms}")
    return args


def _failure_reason(build_log: Path, log_path: Path) -> str:
    """The build log's last step, or the replica's last output line if it died before one."""
    return last_step(build_log) or last_line(log_path) or "no output"


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
