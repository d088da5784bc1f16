"""Makes the running replicas match the stored configs and the registry, and drives the
endpoint state machine.

Each pass: read every endpoint, the models with per-model serving, and (at most once a
second) what the registry says about the models they name; plan the replicas that asks for;
start what is missing and restart what died; write each entity's deployment state; promote a
pending config whose entities are all ready (or fail it if one could not start); publish the
routing snapshot the data plane reads, and share it through the store with the processes
that follow this one (``servegate.gateway.shared_routing``); then retire replicas nothing
needs any more, after the requests they are answering have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from servegate.backends.base import Backend, ReplicaHandle, ReplicaKey, ReplicaStatus
from servegate.gateway.routing import ModelRoutes, RoutingTable, endpoint_routes
from servegate.gateway.shared_routing import encode
from servegate.reconciler.following import VersionFollower
from servegate.reconciler.health import entity_state, restart_delay
from servegate.reconciler.model_status import ModelStatus, model_status, status_events
from servegate.reconciler.plan import Plan, entity_key, make_plan
from servegate.registry.snapshot import RegistryReader, RegistrySnapshot, is_version_number
from servegate.states import ConfigUpdate, Deployment
from servegate.store.endpoints import EndpointStore
from servegate.store.model_serving import ModelServingStore
from servegate.store.models import EndpointRow, ServedEntityRow
from servegate.store.routing_snapshot import RoutingSnapshotStore

logger = logging.getLogger(__name__)

_DRAIN_POLL_S = 0.05
REGISTRY_POLL_S = 1.0


class Reconciler:
    def __init__(
        self,
        endpoints: EndpointStore,
        model_serving: ModelServingStore,
        registry: RegistryReader,
        backend: Backend,
        routing: RoutingTable,
        shared: RoutingSnapshotStore,
        leader: str,
        interval_s: float = 0.5,
        drain_timeout_s: float = 300.0,
    ) -> None:
        self.endpoints = endpoints
        self.model_serving = model_serving
        self.registry = registry
        self.backend = backend
        self.routing = routing
        self.shared = shared
        self.leader = leader
        self._shared_body: dict[str, Any] | None = None
        self.interval_s = interval_s
        self.drain_timeout_s = drain_timeout_s
        self.replicas: dict[ReplicaKey, ReplicaHandle] = {}
        self.follower = VersionFollower()
        self._registry_snapshot: RegistrySnapshot = {}
        self._registry_read_at = 0.0
        self._registry_read_wall_ms = 0
        self._written: dict[int, tuple[str, str, str | None]] = {}
        self._model_status: dict[str, ModelStatus] = {}
        self._next_restart: dict[ReplicaKey, float] = {}
        self._wake = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()

    def wake(self, *, reread_registry: bool = False) -> None:
        """Run a pass now rather than at the next tick (after a control-plane change)."""
        if reread_registry:
            self._registry_read_at = 0.0
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except Exception:
                logger.exception("reconcile pass failed; retrying")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    async def reconcile_once(self) -> None:
        endpoints = await asyncio.to_thread(self.endpoints.list)
        models = [row.model_name for row in await asyncio.to_thread(self.model_serving.list)]
        registry = await self._read_registry(endpoints, models)
        plan = self._plan(endpoints, models, registry)
        await self._ensure_replicas(plan)
        if await self._settle_endpoints(endpoints, plan):
            endpoints = await asyncio.to_thread(self.endpoints.list)
            plan = self._plan(endpoints, models, registry)
        model_routes = await self._settle_models(plan)
        self.routing.publish(endpoint_routes(endpoints, plan, self.replicas), model_routes)
        await self._share()
        self._retire(set(plan.replicas))

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
            }
            started_ms = int(time.time() * 1000)
            self._registry_snapshot = await asyncio.to_thread(self.registry.read, sorted(names))
            self._registry_read_at = time.monotonic()
            self._registry_read_wall_ms = started_ms
        return self._registry_snapshot

    def _plan(
        self, endpoints: list[EndpointRow], models: list[str], registry: RegistrySnapshot
    ) -> Plan:
        return make_plan(endpoints, models, registry, self.follower, self._is_ready)

    def _is_ready(self, key: ReplicaKey) -> bool:
        handle = self.replicas.get(key)
        return handle is not None and handle.ready

    async def _ensure_replicas(self, plan: Plan) -> None:
        now = time.monotonic()
        for key, spec in plan.replicas.items():
            handle = self.replicas.get(key)
            if handle is None:
                self.replicas[key] = await self.backend.start(spec)
                continue
            if handle.status not in (ReplicaStatus.EXITED, ReplicaStatus.FAILED):
                continue
            if handle.status is ReplicaStatus.FAILED and key in plan.pending_only:
                continue  # the pending config fails instead; the active one keeps serving
            due = self._next_restart.setdefault(
                key, now + restart_delay(handle.restarts, handle.status)
            )
            if now >= due:
                del self._next_restart[key]
                self.replicas[key] = await self.backend.start(spec, restarts=handle.restarts + 1)

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
                elif is_pending and Deployment.FAILED in states:
                    moved |= await asyncio.to_thread(
                        self.endpoints.fail_pending, endpoint.id, config.version
                    )
        if promotions:
            # Route to a config before the store calls it active: once the API says READY,
            # the data plane already serves it.
            self.routing.publish_endpoints(
                endpoint_routes(endpoints, plan, self.replicas, promotions)
            )
            await self._share()
        for endpoint_id, version in promotions.items():
            moved |= await asyncio.to_thread(self.endpoints.promote, endpoint_id, version)
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
        key = entity_key(endpoint, row, following.current)
        state, message = entity_state(
            self.replicas.get(key),
            row,
            pending=pending,
            following=following,
            registry_checked=self._registry_read_wall_ms > config_start_ms,
        )
        written = (state.value, message, following.current)
        if self._written.get(row.id) != written:
            await asyncio.to_thread(
                self.endpoints.set_entity_state, row.id, state, message, following.current
            )
            self._written[row.id] = written
        return state

    async def _share(self) -> None:
        """Write the routing snapshot to the store, for the processes that follow, if it changed."""
        body = encode(*self.routing.snapshot())
        if body != self._shared_body:
            await asyncio.to_thread(self.shared.publish, body, self.leader)
            self._shared_body = body

    async def _settle_models(self, plan: Plan) -> dict[str, ModelRoutes]:
        """Per-model serving: compute each model's status, record what changed as events."""
        routes: dict[str, ModelRoutes] = {}
        for name, model in plan.models.items():
            status = model_status(model, self.replicas)
            for event in status_events(self._model_status.get(name), status):
                await asyncio.to_thread(self.model_serving.add_event, name, *event)
            self._model_status[name] = status
            routes[name] = ModelRoutes(
                status, {version: self.replicas.get(key) for version, key in model.kept.items()}
            )
        for name in self._model_status.keys() - plan.models.keys():
            del self._model_status[name]
        return routes

    def _retire(self, needed: set[ReplicaKey]) -> None:
        for key in [key for key in self.replicas if key not in needed]:
            handle = self.replicas.pop(key)
            self._next_restart.pop(key, None)
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
        handles = list(self.replicas.values())
        self.replicas.clear()
        await asyncio.gather(
            *(self.backend.stop(h) for h in handles), *self._retiring, return_exceptions=True
        )
