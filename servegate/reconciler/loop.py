"""Makes the running replicas match the stored configs and the registry, and drives the
endpoint state machine.

Each pass: read every endpoint, the models with per-model serving, and (at most once a
second) what the registry says about the models they name; plan the replica sets that asks
for; wake the sets a request came for while they were scaled to zero, and scale the others by
their load (``servegate.reconciler.autoscaling``); start what is missing, restart what died
and retire the surplus; write each entity's deployment state; promote a pending config whose
entities are all ready (or fail it if one could not start); publish the routing snapshot the
data plane reads, and share it through the store with the processes that follow this one
(``servegate.gateway.shared_routing``); then retire the sets nothing needs any more. A
replica is stopped only after the requests it is answering have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from servegate.backends.base import Backend, ReplicaHandle, ReplicaKey, ReplicaStatus
from servegate.endpoint_config import FEATURE_SPEC_VERSION
from servegate.gateway.routing import ModelRoutes, RoutingTable, endpoint_routes
from servegate.gateway.shared_routing import encode
from servegate.observability import metrics
from servegate.reconciler.autoscaling import (
    DEFAULT_TIMINGS,
    MODEL_REPLICA_CONCURRENCY,
    ScalingTimings,
    next_scaling,
    woken,
)
from servegate.reconciler.following import VersionFollower
from servegate.reconciler.health import entity_state, restart_delay
from servegate.reconciler.model_status import ModelStatus, model_status, status_events
from servegate.reconciler.plan import Plan, entity_key, make_plan
from servegate.reconciler.replica_set import ReplicaSet
from servegate.registry.references import is_version_number
from servegate.registry.snapshot import RegistryReader, RegistrySnapshot
from servegate.states import ConfigUpdate, Deployment
from servegate.store import endpoint_events as events
from servegate.store.endpoint_events import EndpointEventStore
from servegate.store.endpoints import EndpointStore
from servegate.store.model_serving import ModelServingStore
from servegate.store.models import EndpointRow, ServedEntityRow
from servegate.store.routing_snapshot import RoutingSnapshotStore
from servegate.store.wake_requests import WakeRequestStore

logger = logging.getLogger(__name__)

_DRAIN_POLL_S = 0.05
REGISTRY_POLL_S = 1.0


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the backend's background work failed", exc_info=task.exception())


class Reconciler:
    def __init__(
        self,
        endpoints: EndpointStore,
        model_serving: ModelServingStore,
        registry: RegistryReader,
        backend: Backend,
        routing: RoutingTable,
        shared: RoutingSnapshotStore,
        events: EndpointEventStore,
        wake_requests: WakeRequestStore,
        leader: str,
        interval_s: float = 0.5,
        drain_timeout_s: float = 300.0,
        slots: int = MODEL_REPLICA_CONCURRENCY,
        timings: ScalingTimings = DEFAULT_TIMINGS,
    ) -> None:
        self.endpoints = endpoints
        self.events = events
        self.wake_requests = wake_requests
        self.slots = slots
        self.timings = timings
        self.model_serving = model_serving
        self.registry = registry
        self.backend = backend
        self.routing = routing
        self.shared = shared
        self.leader = leader
        self._shared_body: dict[str, Any] | None = None
        self.interval_s = interval_s
        self.drain_timeout_s = drain_timeout_s
        self.sets: dict[ReplicaKey, ReplicaSet] = {}
        self.follower = VersionFollower()
        self._registry_snapshot: RegistrySnapshot = {}
        self._registry_read_at = 0.0
        self._registry_read_wall_ms = 0
        self._written: dict[int, tuple[str, str, str | None]] = {}
        self._model_status: dict[str, ModelStatus] = {}
        self._next_restart: dict[ReplicaHandle, float] = {}
        self._wanted_awake: set[tuple[str, str]] = set()  # (endpoint id, served name)
        self._endpoint_names: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()

    def wake(self, *, reread_registry: bool = False) -> None:
        """Run a pass now rather than at the next tick (after a control-plane change)."""
        if reread_registry:
            self._registry_read_at = 0.0
        self._wake.set()

    def wake_entity(self, endpoint_id: str, served_name: str) -> None:
        """A request came for a served entity that has no replica ready: if it is scaled to
        zero, start one now."""
        self._wanted_awake.add((endpoint_id, served_name))
        self._wake.set()

    async def run(self) -> None:
        warming = asyncio.create_task(self.backend.warm())
        warming.add_done_callback(_log_failure)
        tending = asyncio.create_task(self.backend.tend())
        tending.add_done_callback(_log_failure)
        try:
            while True:
                try:
                    await self.reconcile_once()
                except Exception:
                    logger.exception("reconcile pass failed; retrying")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
                self._wake.clear()
        finally:
            tending.cancel()

    async def reconcile_once(self) -> None:
        endpoints = await asyncio.to_thread(self.endpoints.list)
        self._endpoint_names = {endpoint.id: endpoint.name for endpoint in endpoints}
        models = [row.model_name for row in await asyncio.to_thread(self.model_serving.list)]
        registry = await self._read_registry(endpoints, models)
        plan = self._plan(endpoints, models, registry)
        await self._scale(plan)
        await self._ensure_replicas(plan)
        if await self._settle_endpoints(endpoints, plan):
            endpoints = await asyncio.to_thread(self.endpoints.list)
            plan = self._plan(endpoints, models, registry)
        model_routes = await self._settle_models(plan)
        self.routing.publish(endpoint_routes(endpoints, plan, self.sets), model_routes)
        await self._share()
        self._retire_sets(set(plan.replicas))

    async def _read_registry(
        self, endpoints: list[EndpointRow], models: list[str]
    ) -> RegistrySnapshot:
        if time.monotonic() - self._registry_read_at >= REGISTRY_POLL_S:
            names = set(models) | {
                row.entity_name
                for endpoint in endpoints
                for config in endpoint.configs
                for row in config.entities
                if not is_version_number(row.entity_version)
                and row.entity_version != FEATURE_SPEC_VERSION
            }
            started_ms = int(time.time() * 1000)
            self._registry_snapshot = await asyncio.to_thread(self.registry.read, sorted(names))
            self._registry_read_at = time.monotonic()
            self._registry_read_wall_ms = started_ms
        return self._registry_snapshot

    def _plan(
        self, endpoints: list[EndpointRow], models: list[str], registry: RegistrySnapshot
    ) -> Plan:
        return make_plan(endpoints, models, registry, self.follower, self._is_ready, self.slots)

    def _is_ready(self, key: ReplicaKey) -> bool:
        replica_set = self.sets.get(key)
        return replica_set is not None and bool(replica_set.ready)

    async def _scale(self, plan: Plan) -> None:
        """Wake the sets requests are waiting for; move the others' counts by their load."""
        if self.backend.scales_replicas:
            return
        now = time.monotonic()
        wanted_awake = self._wanted_awake | set(await asyncio.to_thread(self.wake_requests.take))
        self._wanted_awake = set()
        scaled = [
            (key, replica_set)
            for key, replica_set in self.sets.items()
            if key in plan.replicas and not replica_set.bounds.fixed
        ]
        loads = await asyncio.gather(*(replica_set.observe(now) for _, replica_set in scaled))
        for (key, replica_set), (load, had_requests) in zip(scaled, loads, strict=True):
            before = replica_set.scaling
            if (key.endpoint_id, key.served_name) in wanted_awake:
                replica_set.scaling = woken(before, replica_set.bounds, now)
                replica_set.woken = before.replicas == 0 or replica_set.woken
            else:
                replica_set.scaling = next_scaling(
                    before,
                    replica_set.bounds,
                    slots=self.slots,
                    load=load,
                    had_requests=had_requests,
                    now=now,
                    timings=self.timings,
                )
            if replica_set.scaling.replicas != before.replicas:
                await self._record_scaling(key, before.replicas, replica_set, load)

    async def _record_scaling(
        self, key: ReplicaKey, before: int, replica_set: ReplicaSet, load: float
    ) -> None:
        after = replica_set.scaling.replicas
        if after == 0:
            idle_min = self.timings.idle_s / 60
            kind = events.SCALED_TO_ZERO
            message = f"Scaled to zero: no request for {idle_min:g} min."
        elif before == 0:
            kind, message = events.WOKEN, f"A request arrived; starting {after} replica(s)."
        else:
            kind = events.SCALED_UP if after > before else events.SCALED_DOWN
            message = (
                f"Scaled from {before} to {after} replicas: {load:.1f} requests in flight "
                f"on average, {self.slots} per replica."
            )
        endpoint = self._endpoint_names.get(key.endpoint_id, key.endpoint_id)
        logger.info("%s of endpoint %s: %s", key.served_name, endpoint, message)
        metrics.SCALE_EVENTS.labels(endpoint, key.served_name, kind).inc()
        if kind == events.WOKEN:
            metrics.COLD_STARTS.labels(endpoint, key.served_name).inc()
        await asyncio.to_thread(self.events.add, key.endpoint_id, kind, message, key.served_name)

    async def _ensure_replicas(self, plan: Plan) -> None:
        """Bring every set to its count: start the missing, restart the dead, retire the
        surplus."""
        now = time.monotonic()
        for key, spec in plan.replicas.items():
            replica_set = self.sets.get(key)
            if replica_set is None:
                replica_set = ReplicaSet.new(spec, now, backend_scales=self.backend.scales_replicas)
                self.sets[key] = replica_set
            for handle in replica_set.surplus():
                replica_set.handles.remove(handle)
                self._retire(handle)
            for index, handle in enumerate(replica_set.handles):
                if handle.status not in (ReplicaStatus.EXITED, ReplicaStatus.FAILED):
                    continue
                if handle.status is ReplicaStatus.FAILED and key in plan.pending_only:
                    continue  # the pending config fails instead; the active one keeps serving
                if handle not in self._next_restart:
                    self._next_restart[handle] = now + restart_delay(handle.restarts, handle.status)
                    await self._record_replica(key, events.REPLICA_EXITED, handle.message)
                if now >= self._next_restart[handle]:
                    del self._next_restart[handle]
                    replica_set.handles[index] = await self.backend.start(
                        spec, restarts=handle.restarts + 1
                    )
                    restart = f"Restarting the replica (restart {handle.restarts + 1})."
                    await self._record_replica(key, events.REPLICA_RESTARTED, restart)
            while len(replica_set.handles) < replica_set.scaling.replicas:
                replica_set.handles.append(await self.backend.start(spec))
            if replica_set.ready:
                replica_set.woken = False

    async def _record_replica(self, key: ReplicaKey, kind: str, message: str) -> None:
        if key.endpoint_id.startswith("model:"):
            return  # per-model serving keeps its own events (model_status)
        await asyncio.to_thread(self.events.add, key.endpoint_id, kind, message, key.served_name)

    async def _settle_endpoints(self, endpoints: list[EndpointRow], plan: Plan) -> bool:
        """Write entity states; promote or fail pending configs. True if a config moved."""
        promotions: dict[str, int] = {}
        moved = False
        for endpoint in endpoints:
            for config in endpoint.configs:
                is_pending = (
                    config.version == endpoint.pending_version
                    and endpoint.config_update == ConfigUpdate.IN_PROGRESS.value
                )
                if not is_pending and config.version != endpoint.active_version:
                    continue
                states = [
                    await self._settle_entity(endpoint, config.start_time, row, plan, is_pending)
                    for row in config.entities
                ]
                if is_pending and all(state is Deployment.READY for state in states):
                    promotions[endpoint.id] = config.version
                elif (
                    is_pending
                    and Deployment.FAILED in states
                    and await asyncio.to_thread(
                        self.endpoints.fail_pending, endpoint.id, config.version
                    )
                ):
                    moved = True
                    await self._record_update(endpoint.id, config.version, failed=True)
        if promotions:
            # Route to a config before the store calls it active: once the API says READY,
            # the data plane already serves it.
            self.routing.publish_endpoints(endpoint_routes(endpoints, plan, self.sets, promotions))
            await self._share()
        for endpoint_id, version in promotions.items():
            if await asyncio.to_thread(self.endpoints.promote, endpoint_id, version):
                moved = True
                await self._record_update(endpoint_id, version, failed=False)
        for gone in self._written.keys() - plan.entities.keys():  # deleted or superseded
            del self._written[gone]
        return moved

    async def _settle_entity(
        self,
        endpoint: EndpointRow,
        config_start_ms: int,
        row: ServedEntityRow,
        plan: Plan,
        pending: bool,
    ) -> Deployment:
        """Compute one served entity's deployment state and write it if it changed."""
        following = plan.entities[row.id]
        replica_set = self.sets.get(entity_key(endpoint, row, following.current))
        state, message = entity_state(
            replica_set,
            row,
            pending=pending,
            following=following,
            registry_checked=self._registry_read_wall_ms > config_start_ms,
        )
        scaling = replica_set.describe() if replica_set else None
        written = (state.value, message, following.current, scaling)
        if self._written.get(row.id) != written:
            if state.value != row.deployment_state:
                change = f"{row.deployment_state} → {state.value}" + (
                    f": {message}" if message else ""
                )
                await asyncio.to_thread(
                    self.events.add, endpoint.id, events.STATE_CHANGED, change, row.name
                )
            if scaling is not None:
                for kind, field in (("wanted", "replicas"), ("ready", "ready_replicas")):
                    metrics.REPLICAS.labels(endpoint.name, row.name, kind).set(scaling[field])
            await asyncio.to_thread(
                self.endpoints.set_entity_state, row.id, state, message, following.current, scaling
            )
            self._written[row.id] = written
        return state

    async def _record_update(self, endpoint_id: str, version: int, *, failed: bool) -> None:
        if failed:
            kind = events.UPDATE_FAILED
            message = f"Config version {version} failed to deploy; the previous one keeps serving."
        else:
            kind, message = events.CONFIG_UPDATED, f"Config version {version} is serving."
        await asyncio.to_thread(self.events.add, endpoint_id, kind, message)

    async def _share(self) -> None:
        """Write the routing snapshot to the store, for the processes that follow, if it changed."""
        body = encode(*self.routing.snapshot())
        if body != self._shared_body:
            await asyncio.to_thread(self.shared.publish, body, self.leader)
            self._shared_body = body

    async def _settle_models(self, plan: Plan) -> dict[str, ModelRoutes]:
        """Per-model serving: compute each model's status, record what changed as events."""
        routes: dict[str, ModelRoutes] = {}
        primaries = {key: replica_set.primary for key, replica_set in self.sets.items()}
        for name, model in plan.models.items():
            status = model_status(model, primaries)
            for event in status_events(self._model_status.get(name), status):
                await asyncio.to_thread(self.model_serving.add_event, name, *event)
            self._model_status[name] = status
            routes[name] = ModelRoutes(
                status, {version: primaries.get(key) for version, key in model.kept.items()}
            )
        for name in self._model_status.keys() - plan.models.keys():
            del self._model_status[name]
        return routes

    def _retire_sets(self, needed: set[ReplicaKey]) -> None:
        for key in [key for key in self.sets if key not in needed]:
            for handle in self.sets.pop(key).handles:
                self._retire(handle)

    def _retire(self, handle: ReplicaHandle) -> None:
        self._next_restart.pop(handle, None)
        task = asyncio.get_running_loop().create_task(self._drain_and_stop(handle))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _drain_and_stop(self, handle: ReplicaHandle) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while handle.inflight and time.monotonic() < deadline:
            await asyncio.sleep(_DRAIN_POLL_S)
        await self.backend.stop(handle)

    async def shutdown(self) -> None:
        """Stop every replica (gracefully) when the gateway stops."""
        handles = [handle for replica_set in self.sets.values() for handle in replica_set.handles]
        self.sets.clear()
        await asyncio.gather(
            *(self.backend.stop(h) for h in handles), *self._retiring, return_exceptions=True
        )
