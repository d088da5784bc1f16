"""The Kubernetes backend: served models run in pods of their own; the gateway routes to them.

``servegate deploy k8s`` writes, per served model, a Deployment of replica pods behind a
Service, and into the gateway's ConfigMap a ``routes.json`` naming each served model's
Service URL and model. With ``--backend kubernetes --routes-file FILE`` (the ConfigMap's key,
mounted; Kubernetes refreshes the file when the ConfigMap changes) the gateway sends each
served entity's share of an endpoint's traffic to its Service: Kubernetes runs the pods, the
HorizontalPodAutoscaler scales them, the Service spreads requests over the ready ones. The
gateway keeps everything else: auth, the split, limits, metrics, capture, the state machine.

A served entity is READY once its Service answers ``/ping`` (a replica listens only once its
model is loaded); one missing from the file, or whose Service serves another model version,
is DEPLOYMENT_FAILED saying what to run. A Service that stops answering turns its entity
RECOVERING until it answers again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.backends.base import ReplicaHandle, ReplicaSpec, ReplicaStatus
from servegate.backends.build_logs import begin_build_log, write_step
from servegate.backends.clients import ReplicaClient
from servegate.observability.logs import LogPaths
from servegate.registry.references import is_version_number

logger = logging.getLogger(__name__)

_PROBE_INTERVAL_S = 0.5
_WATCH_INTERVAL_S = 2.0
_MISSES_BEFORE_EXITED = 3


@dataclass(frozen=True)
class ServiceRoute:
    url: str
    model_uri: str | None  # None in files written before it was recorded


class RoutesFile:
    """``routes.json`` as ``servegate deploy k8s`` writes it, read again when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read_at: tuple[float, int] | None = None
        self._routes: dict[tuple[str, str], ServiceRoute] = {}
        self.problem: str | None = None  # why the file could not be read, if it could not

    def get(self, endpoint: str, served: str) -> ServiceRoute | None:
        self._refresh()
        return self._routes.get((endpoint, served))

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError as error:
            self.problem, self._routes = f"cannot read {self.path}: {error.strerror}", {}
            self._read_at = None
            return
        if self._read_at == (stat.st_mtime, stat.st_size):
            return
        try:
            document = json.loads(self.path.read_text())
            self._routes = _parse(document)
            self.problem = None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            self.problem = f"{self.path} is not a routes file of servegate deploy k8s: {error}"
            self._routes = {}
        self._read_at = (stat.st_mtime, stat.st_size)


def _parse(document: dict[str, Any]) -> dict[tuple[str, str], ServiceRoute]:
    routes = {}
    for endpoint, entry in document["endpoints"].items():
        for route in entry["routes"]:
            key = (endpoint, route["served_model_name"])
            routes[key] = ServiceRoute(str(route["url"]), route.get("model_uri"))
    return routes


def serves_same_model(route: ServiceRoute, spec_uri: str) -> bool:
    """Whether the Service's pods serve the model the entity asks for. Pods given a stage or
    an alias resolve it when they start, so only a numbered version can be told apart."""
    if route.model_uri is None or route.model_uri == spec_uri:
        return True
    reference = route.model_uri.removeprefix("models:/")
    if "@" in reference:  # models:/NAME@ALIAS
        name = reference.partition("@")[0]
    else:  # models:/NAME/VERSION or models:/NAME/STAGE
        name, _, version = reference.rpartition("/")
        if is_version_number(version):
            return False
    return spec_uri.startswith(f"models:/{name}/")


class ServiceBackend:
    scales_replicas = True  # Kubernetes does, with the HPA the manifests hold

    def __init__(self, routes: RoutesFile, log_paths: LogPaths, start_timeout_s: float) -> None:
        self.routes = routes
        self.log_paths = log_paths
        self.start_timeout_s = start_timeout_s
        self._watching: dict[ReplicaHandle, asyncio.Task[None]] = {}

    async def warm(self) -> None:
        """Nothing to get ready: the pods are Kubernetes' to run."""

    async def close(self) -> None:
        """Nothing to release."""

    async def tend(self) -> None:
        """Notice Services that stop answering, or whose route changed in the file."""
        misses: dict[ReplicaHandle, int] = {}
        while True:
            await asyncio.sleep(_WATCH_INTERVAL_S)
            serving = [handle for handle in self._watching if handle.ready]
            answers = await asyncio.gather(*(handle.client.ping() for handle in serving))
            for handle, answered in zip(serving, answers, strict=True):
                route = self.routes.get(handle.spec.endpoint_name, handle.spec.served_name)
                if route is None or route.url != handle.address:
                    self._exited(handle, "its route in the routes file changed")
                elif answered:
                    misses.pop(handle, None)
                elif (missed := misses.get(handle, 0) + 1) >= _MISSES_BEFORE_EXITED:
                    self._exited(handle, f"Service {handle.address} stopped answering /ping")
                else:
                    misses[handle] = missed
            for handle in list(misses):
                if handle not in self._watching:
                    del misses[handle]

    def _exited(self, handle: ReplicaHandle, reason: str) -> None:
        handle.status = ReplicaStatus.EXITED
        handle.message = f"The replica's {reason}."
        logger.warning("%s of %s: %s", handle.spec.served_name, handle.spec.log_group, reason)
        self._watching.pop(handle, None)

    async def start(self, spec: ReplicaSpec, restarts: int = 0) -> ReplicaHandle:
        build_log = self.log_paths.build_log(spec.log_group, spec.served_name)
        begin_build_log(build_log, spec.model_uri)
        route = self.routes.get(spec.endpoint_name, spec.served_name)
        address = route.url if route is not None else ""
        handle = ReplicaHandle(
            spec=spec, address=address, client=ReplicaClient(address), restarts=restarts
        )
        problem = self._problem(spec, route)
        if problem is not None:
            handle.status = ReplicaStatus.FAILED
            handle.message = problem
            write_step(build_log, problem)
            return handle
        write_step(build_log, f"routing to Service {address}")
        watching = asyncio.get_running_loop().create_task(self._until_ready(handle, build_log))
        self._watching[handle] = watching
        return handle

    def _problem(self, spec: ReplicaSpec, route: ServiceRoute | None) -> str | None:
        endpoint, served = spec.endpoint_name, spec.served_name
        run = f"run `servegate deploy k8s {endpoint} -o DIR` and apply it"
        if route is None:
            why = self.routes.problem or f"{self.routes.path} has no Service for it"
            return f"No replica Service for served model '{served}' of '{endpoint}': {why}; {run}."
        if not serves_same_model(route, spec.model_uri):
            return (
                f"The Service {route.url} serves {route.model_uri}, not {spec.model_uri}: "
                f"the manifests are older than this config; {run}."
            )
        return None

    async def _until_ready(self, handle: ReplicaHandle, build_log: Path) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while handle.status is ReplicaStatus.STARTING:
            if await handle.client.ping():
                handle.status = ReplicaStatus.READY
                write_step(build_log, f"Service {handle.address} answers: ready")
                return
            if time.monotonic() > deadline:
                handle.status = ReplicaStatus.FAILED
                handle.message = (
                    f"The Service {handle.address} did not answer /ping within "
                    f"{self.start_timeout_s:.0f}s: are its pods ready?"
                )
                write_step(build_log, handle.message)
                self._watching.pop(handle, None)
                return
            await asyncio.sleep(_PROBE_INTERVAL_S)

    async def stop(self, handle: ReplicaHandle) -> None:
        """Stop routing to the Service; its pods are Kubernetes' (and the manifests') to stop."""
        watching = self._watching.pop(handle, None)
        if watching is not None:
            watching.cancel()
        if handle.status in (ReplicaStatus.STARTING, ReplicaStatus.READY):
            handle.status = ReplicaStatus.STOPPED
        await handle.client.close()
