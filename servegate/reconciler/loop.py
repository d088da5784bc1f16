"""Makes the running replicas match the stored configs, and drives the endpoint state machine.

Each pass: read every endpoint; start a replica for every served entity of an active or
in-progress config that has none; write each entity's deployment state; promote a pending
config whose entities are all ready (or fail it if one could not start); publish the routing
snapshot the data plane reads; then retire replicas nothing needs any more, after the
requests they are answering have finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from servegate.backends.base import Backend, ReplicaHandle, ReplicaKey, ReplicaStatus
from servegate.gateway.routing import RoutingTable, snapshot
from servegate.reconciler.desired import LiveEntity, live_entities
from servegate.reconciler.health import entity_state, restart_delay
from servegate.states import ConfigUpdate, Deployment
from servegate.store.endpoints import EndpointStore
from servegate.store.models import EndpointRow

logger = logging.getLogger(__name__)

_DRAIN_POLL_S = 0.05


class Reconciler:
    def __init__(
        self,
        endpoints: EndpointStore,
        backend: Backend,
        routing: RoutingTable,
        interval_s: float = 0.5,
        drain_timeout_s: float = 300.0,
    ) -> None:
        self.endpoints = endpoints
        self.backend = backend
        self.routing = routing
        self.interval_s = interval_s
        self.drain_timeout_s = drain_timeout_s
        self.replicas: dict[ReplicaKey, ReplicaHandle] = {}
        self._written: dict[int, tuple[str, str]] = {}
        self._next_restart: dict[ReplicaKey, float] = {}
        self._wake = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Run a pass now rather than at the next tick (after a control-plane change)."""
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
        await self._ensure_replicas(live_entities(endpoints))
        if await self._settle(endpoints):
            endpoints = await asyncio.to_thread(self.endpoints.list)
        self.routing.publish(snapshot(endpoints, self.replicas))
        self._retire({live.key for live in live_entities(endpoints)})

    async def _ensure_replicas(self, live: list[LiveEntity]) -> None:
        now = time.monotonic()
        for entity in live:
            handle = self.replicas.get(entity.key)
            if handle is None:
                self.replicas[entity.key] = await self.backend.start(entity.spec)
                continue
            if handle.status not in (ReplicaStatus.EXITED, ReplicaStatus.FAILED):
                continue
            if handle.status is ReplicaStatus.FAILED and entity.pending_only:
                continue  # the pending config fails instead; the active one keeps serving
            due = self._next_restart.setdefault(
                entity.key, now + restart_delay(handle.restarts, handle.status)
            )
            if now >= due:
                del self._next_restart[entity.key]
                self.replicas[entity.key] = await self.backend.start(
                    entity.spec, restarts=handle.restarts + 1
                )

    async def _settle(self, endpoints: list[EndpointRow]) -> bool:
        """Write entity states; promote or fail pending configs. True if a config moved."""
        moved = False
        for endpoint in endpoints:
            for config in endpoint.configs:
                is_pending = (
                    config.version == endpoint.pending_version
                    and endpoint.config_update == ConfigUpdate.IN_PROGRESS.value
                )
                if not is_pending and config.version != endpoint.active_version:
                    continue
                states = []
                for row in config.entities:
                    handle = self.replicas.get(LiveEntity.key_for(endpoint, row))
                    state, message = entity_state(handle, row, pending=is_pending)
                    states.append(state)
                    if self._written.get(row.id) != (state.value, message):
                        await asyncio.to_thread(
                            self.endpoints.set_entity_state, row.id, state, message
                        )
                        self._written[row.id] = (state.value, message)
                if is_pending and all(state is Deployment.READY for state in states):
                    moved |= await asyncio.to_thread(
                        self.endpoints.promote, endpoint.id, config.version
                    )
                elif is_pending and Deployment.FAILED in states:
                    moved |= await asyncio.to_thread(
                        self.endpoints.fail_pending, endpoint.id, config.version
                    )
        return moved

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
