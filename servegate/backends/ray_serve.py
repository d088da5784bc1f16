"""The Ray backend: each served entity a Ray Serve application on an existing Ray cluster.

What maps to what:

- One ``ReplicaKey`` (a served entity of an endpoint's config, or a version with per-model
  serving) is one Serve application, ``servegate-<endpoint>-<served>-<hash>-<restarts>``,
  holding one deployment of ``ServedModelDeployment`` (our replica app) at the route prefix
  ``/<application>`` of Serve's HTTP proxy. Its handle's address is that URL, so the data
  plane forwards to it as to any replica.
- Ray scales the deployment: the entity's bounds (workload size or provisioned concurrency,
  scale to zero) become its ``autoscaling_config`` (``servegate.backends.ray_mapping``), so the
  reconciler asks for one handle per entity (``scales_replicas``) and keeps the rest: the
  traffic split, the endpoint state machine, and config updates (a new config's entities
  are new applications, deployed beside the old ones, which are deleted once drained).
- A handle is READY once ``serve.run`` says the application runs (its first replicas have
  loaded the model); FAILED if it never does (the build log or Ray says why); EXITED if the
  application later fails or disappears, and the reconciler starts a new one.

The Ray workers run servegate's own code from this installation (``PYTHONPATH``) and reach
the registry as a replica process would (the same variables), so every node needs
servegate at the same path: a Ray cluster on this host, or nodes installed alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import ray
from ray import serve
from ray.serve.schema import ApplicationStatus, ReplicaState

import servegate
from servegate.backends.base import (
    FEATURE_SPEC_SCHEME,
    ReplicaHandle,
    ReplicaSpec,
    ReplicaStatus,
)
from servegate.backends.build_logs import begin_build_log, last_step
from servegate.backends.clients import ReplicaClient
from servegate.backends.ray_mapping import (
    application_name,
    autoscaling_config,
    batching_of,
    deployment_name,
)
from servegate.backends.ray_replica import ServedModelDeployment
from servegate.errors import ServegateError
from servegate.observability.logs import LogPaths
from servegate.reconciler.autoscaling import ScalingTimings
from servegate.replica.served import FeatureSource, ReplicaOptions

logger = logging.getLogger(__name__)

_WATCH_INTERVAL_S = 2.0
_PROBE_INTERVAL_S = 0.1
_CONNECT_TIMEOUT_S = 60.0
_STOP_GRACE_S = 30.0


class RayUnreachable(Exception):
    """The gateway could not join the Ray cluster, or start Serve on it."""


@dataclass(frozen=True)
class RayCluster:
    """Which cluster, where its Serve proxy listens, and what each replica reserves."""

    address: str  # "auto", "HOST:PORT" of the GCS, or "ray://HOST:PORT"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    replica_cpus: float = 1.0

    @property
    def proxy_url(self) -> str:
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "") else self.http_host
        return f"http://{host}:{self.http_port}"


def _check_listening(address: str) -> None:
    """Fail fast when nothing listens at a GCS ``HOST:PORT`` (Ray would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # "auto", or ray://: Ray finds or reaches the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise RayUnreachable(f"nothing answers at {address}: {error}") from error


def _in_daemon_thread(work: Callable[[], None]) -> asyncio.Future[None]:
    """Run ``work`` in a thread of its own that does not hold the gateway's exit: Ray may
    keep retrying an address that answers but is no Ray cluster for minutes."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting caller
            loop.call_soon_threadsafe(settle, error)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="ray-join", daemon=True).start()
    return done


def _code_path() -> str:
    """PYTHONPATH that makes Ray's workers import this servegate, ahead of any other."""
    root = str(Path(servegate.__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, inherited]) if inherited else root


class RayBackend:
    scales_replicas = True

    def __init__(
        self,
        cluster: RayCluster,
        replica_env: dict[str, str],
        options: ReplicaOptions,
        model_cache_dir: Path,
        log_paths: LogPaths,
        start_timeout_s: float,
        resolve_environment: Callable[[dict[str, str]], dict[str, str]],
        timings: ScalingTimings,
        feature_tables: Callable[[], bytes],
        feature_spec: Callable[[str], bytes],
    ) -> None:
        self.cluster = cluster
        self.replica_env = replica_env
        self.options = options  # what every replica shares; per entity: concurrency, batching
        self.model_cache_dir = model_cache_dir
        self.log_paths = log_paths
        self.start_timeout_s = start_timeout_s
        self.resolve_environment = resolve_environment
        self.timings = timings
        self.feature_tables = feature_tables  # the definitions, as JSON, for models with lookups
        self.feature_spec = feature_spec  # a named spec, as JSON, for feature serving
        self._joining: asyncio.Future[None] | None = None
        self._applications: dict[ReplicaHandle, str] = {}
        self._deploying: dict[ReplicaHandle, asyncio.Task[None]] = {}

    async def warm(self) -> None:
        try:
            await self._connect()
        except Exception as error:  # noqa: BLE001 - each replica's start tries again
            logger.warning("%s", error)

    async def _connect(self) -> None:
        """Join the cluster and start Serve, once: callers share one attempt, a failed one
        is made again by the next caller, and nobody waits past ``_CONNECT_TIMEOUT_S`` (Ray
        itself keeps trying an unreachable address for minutes)."""
        joining = self._joining
        if joining is None or (joining.done() and (joining.cancelled() or joining.exception())):
            joining = self._joining = _in_daemon_thread(self._connect_now)
        try:
            await asyncio.wait_for(asyncio.shield(joining), _CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RayUnreachable(
                f"the Ray cluster at {self.cluster.address} did not answer within "
                f"{_CONNECT_TIMEOUT_S:.0f}s"
            ) from None
        except RayUnreachable:
            raise
        except Exception as error:
            raise RayUnreachable(
                f"could not join the Ray cluster at {self.cluster.address}: {error}"
            ) from error

    def _connect_now(self) -> None:
        _check_listening(self.cluster.address)
        ray.init(
            address=self.cluster.address,
            logging_level=logging.WARNING,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
        serve.start(
            proxy_location="HeadOnly",  # one proxy, at the address the gateway forwards to
            http_options={"host": self.cluster.http_host, "port": self.cluster.http_port},
        )

    async def tend(self) -> None:
        """Count the replicas Ray runs behind each ready handle; notice applications that
        failed or vanished after they were ready."""
        while True:
            await asyncio.sleep(_WATCH_INTERVAL_S)
            serving = [handle for handle in self._applications if handle.ready]
            if not serving:
                continue
            try:
                applications = (await asyncio.to_thread(serve.status)).applications
            except Exception as error:  # noqa: BLE001 - Ray unreachable for now: look again
                logger.warning("could not read Ray Serve's status: %s", error)
                continue
            for handle in serving:
                name = self._applications.get(handle)
                if name is None:
                    continue  # stopped while Ray answered
                application = applications.get(name)
                if application is None:
                    reason = "its Ray Serve application is gone"
                elif application.status is ApplicationStatus.DEPLOY_FAILED:
                    reason = f"failed in Ray Serve: {application.message}"
                else:
                    handle.replicas = sum(
                        deployment.replica_states.get(ReplicaState.RUNNING, 0)
                        for deployment in application.deployments.values()
                    )
                    continue
                handle.status = ReplicaStatus.EXITED
                handle.message = f"The replica {reason}."
                logger.warning("replica %s of %s %s", handle.spec.served_name, name, reason)
                await self._forget(handle)

    async def close(self) -> None:
        if ray.is_initialized():
            await asyncio.to_thread(ray.shutdown)

    async def start(self, spec: ReplicaSpec, restarts: int = 0) -> ReplicaHandle:
        name = application_name(spec.key, restarts)
        address = f"{self.cluster.proxy_url}/{name}"
        handle = ReplicaHandle(
            spec=spec, address=address, client=ReplicaClient(address), restarts=restarts
        )
        self._applications[handle] = name
        deploying = asyncio.get_running_loop().create_task(self._deploy(handle, name))
        self._deploying[handle] = deploying
        deploying.add_done_callback(lambda _: self._deploying.pop(handle, None))
        return handle

    async def _deploy(self, handle: ReplicaHandle, name: str) -> None:
        spec = handle.spec
        build_log = self.log_paths.build_log(spec.log_group, spec.served_name)
        begin_build_log(build_log, spec.model_uri)
        try:
            await self._connect()
            variables = await asyncio.to_thread(self.resolve_environment, spec.environment_vars)
            features = await asyncio.to_thread(self._features, spec)
            application = self._application(spec, variables, features, build_log)
            await asyncio.wait_for(self._run(application, name, handle), self.start_timeout_s)
        except ServegateError as error:  # a referenced secret is gone
            detail = error.message
        except RayUnreachable as error:
            detail = str(error)
        except asyncio.TimeoutError:
            detail = f"it did not become ready within {self.start_timeout_s:.0f}s"
        except Exception as error:  # noqa: BLE001 - Ray's reasons come as any exception
            detail = _failure_reason(build_log, error)
        else:
            if handle.status is ReplicaStatus.STARTING:
                handle.status = ReplicaStatus.READY
            return
        if handle.status is ReplicaStatus.STARTING:
            handle.status = ReplicaStatus.FAILED
            handle.message = f"The replica could not start on Ray: {detail}"
            logger.warning("replica %s failed to start on Ray: %s", name, detail)
            await self._forget(handle)

    @staticmethod
    async def _run(application: serve.Application, name: str, handle: ReplicaHandle) -> None:
        """Deploy, then wait until the proxy routes to it (it learns routes a moment after
        the application runs)."""
        await asyncio.to_thread(serve.run, application, name=name, route_prefix=f"/{name}")
        while not await handle.client.ping():
            await asyncio.sleep(_PROBE_INTERVAL_S)

    def _features(self, spec: ReplicaSpec) -> FeatureSource:
        """The feature definitions as they are now, sent along with the replica."""
        served_spec = None
        if spec.model_uri.startswith(FEATURE_SPEC_SCHEME):
            served_spec = self.feature_spec(spec.model_uri.removeprefix(FEATURE_SPEC_SCHEME))
        return replace(
            self.options.features, tables_json=self.feature_tables(), spec_json=served_spec
        )

    def _application(
        self,
        spec: ReplicaSpec,
        variables: dict[str, str],
        features: FeatureSource,
        build_log: Path,
    ) -> serve.Application:
        options = replace(
            self.options,
            features=features,
            concurrency=spec.concurrency,
            batching=batching_of(spec),
            metrics_labels=(spec.endpoint_name, spec.served_name),
        )
        env = {**self.replica_env, **variables, "PYTHONPATH": _code_path()}
        deployment = ServedModelDeployment.options(
            name=deployment_name(spec),
            autoscaling_config=autoscaling_config(spec.bounds, spec.concurrency, self.timings),
            # Twice what it predicts at once: the next batch waits in the replica, the rest
            # in Ray's proxy, and Ray's autoscaler sees both.
            max_ongoing_requests=2 * spec.concurrency,
            graceful_shutdown_timeout_s=_STOP_GRACE_S,
            ray_actor_options={
                "num_cpus": self.cluster.replica_cpus,
                "runtime_env": {"env_vars": env},
            },
        )
        return deployment.bind(spec.model_uri, options, str(self.model_cache_dir), str(build_log))

    async def stop(self, handle: ReplicaHandle) -> None:
        deploying = self._deploying.get(handle)
        if deploying is not None:
            deploying.cancel()
        if handle in self._applications:
            handle.status = ReplicaStatus.STOPPING
            await self._forget(handle)
            handle.status = ReplicaStatus.STOPPED
        await handle.client.close()

    async def _forget(self, handle: ReplicaHandle) -> None:
        """Delete the handle's application (waiting for its requests to finish)."""
        name = self._applications.pop(handle)
        try:
            await asyncio.to_thread(serve.delete, name)
        except Exception:  # noqa: BLE001 - it stays listed in Ray; the log says which
            logger.exception("could not delete the Ray Serve application %s", name)


def _failure_reason(build_log: Path, error: Exception) -> str:
    """The build log's last step if the replica wrote one, else Ray's first line."""
    lines = str(error).strip().splitlines()
    return last_step(build_log) or (lines[0] if lines else type(error).__name__)
