"""The routing snapshot: published by the reconciler, read by the data plane.

The data plane never queries the store or the registry: it reads the last published
snapshot, plain dicts swapped in one assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from servegate.backends.base import ReplicaHandle, ReplicaKey
from servegate.gateway.rate_limits import RateLimit
from servegate.inference_tables import InferenceTable, table_in_use
from servegate.reconciler.model_status import ModelStatus
from servegate.reconciler.plan import FEATURE_SPEC, Plan, entity_key
from servegate.reconciler.replica_set import ReplicaSet
from servegate.store.models import EndpointRow


@dataclass(frozen=True)
class EndpointRoutes:
    id: str
    name: str
    config_version: int | None
    routes: tuple[tuple[str, int], ...] = ()
    replicas: dict[str, tuple[ReplicaHandle, ...]] = field(default_factory=dict)
    rate_limits: tuple[RateLimit, ...] = ()
    scale_to_zero: frozenset[str] = frozenset()  # served entities a request may wake
    capture: bool = False  # requests go to the endpoint's inference table
    # what each served entity serves now: model name, version (None for a feature spec)
    models: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def ready_replicas(self, served: str) -> list[ReplicaHandle]:
        return [replica for replica in self.replicas.get(served, ()) if replica.ready]

    def available(self) -> set[str]:
        """Served entities that can take a request: ready now, or woken by it."""
        return {
            served
            for served in self.replicas
            if served in self.scale_to_zero or self.ready_replicas(served)
        }


@dataclass(frozen=True)
class ModelRoutes:
    """Per-model serving: a replica per kept version, and the version behind each reference."""

    status: ModelStatus
    versions: dict[str, ReplicaHandle | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.status.name


class RoutingTable:
    def __init__(self) -> None:
        self._endpoints: dict[str, EndpointRoutes] = {}
        self._models: dict[str, ModelRoutes] = {}
        self._catch_up: Callable[[], Awaitable[None]] | None = None
        self._published = asyncio.Event()

    def publish(self, endpoints: dict[str, EndpointRoutes], models: dict[str, ModelRoutes]) -> None:
        self._endpoints = endpoints
        self._models = models
        self._announce()

    def publish_endpoints(self, endpoints: dict[str, EndpointRoutes]) -> None:
        self._endpoints = endpoints
        self._announce()

    def _announce(self) -> None:
        self._published.set()
        self._published = asyncio.Event()

    async def next_change(self, timeout_s: float) -> None:
        """Wait until the table is published again (or caught up with the leader), at most
        ``timeout_s``."""
        if self._catch_up is not None:
            await asyncio.sleep(timeout_s)
            await self._catch_up()
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._published.wait(), timeout_s)

    def snapshot(self) -> tuple[dict[str, EndpointRoutes], dict[str, ModelRoutes]]:
        return self._endpoints, self._models

    def follow(self, catch_up: Callable[[], Awaitable[None]] | None) -> None:
        """Set (or, when this process leads, clear) how to catch up with the leader."""
        self._catch_up = catch_up

    async def catch_up(self) -> None:
        """Before answering "unknown" or "not ready": make sure this table is not behind."""
        if self._catch_up is not None:
            await self._catch_up()

    def get(self, name: str) -> EndpointRoutes | None:
        return self._endpoints.get(name)

    def model(self, name: str) -> ModelRoutes | None:
        return self._models.get(name)

    def models(self) -> list[ModelRoutes]:
        return list(self._models.values())


def endpoint_routes(
    endpoints: list[EndpointRow],
    plan: Plan,
    sets: dict[ReplicaKey, ReplicaSet],
    promoting: dict[str, int] | None = None,
) -> dict[str, EndpointRoutes]:
    """Routes of every endpoint's active config (or the config about to be promoted, by
    endpoint id), with the replicas serving each entity now."""
    promoting = promoting or {}
    published: dict[str, EndpointRoutes] = {}
    for endpoint in endpoints:
        limits = tuple(
            RateLimit(limit["calls"], limit.get("key", "endpoint"), limit.get("principal"))
            for limit in (endpoint.ai_gateway or {}).get("rate_limits", [])
        )
        serving = promoting.get(endpoint.id, endpoint.active_version)
        active = next((c for c in endpoint.configs if c.version == serving), None)
        if active is None:
            published[endpoint.name] = EndpointRoutes(
                endpoint.id, endpoint.name, None, rate_limits=limits
            )
            continue
        served: dict[str, tuple[ReplicaHandle, ...]] = {}
        wakeable: set[str] = set()
        models: dict[str, tuple[str, str | None]] = {}
        for row in active.entities:
            following = plan.entities.get(row.id)
            version = following.current if following else None
            replica_set = sets.get(entity_key(endpoint, row, version)) if version else None
            served[row.name] = tuple(replica_set.handles) if replica_set else ()
            if replica_set is not None and replica_set.bounds.scale_to_zero:
                wakeable.add(row.name)
            models[row.name] = (row.entity_name, None if version == FEATURE_SPEC else version)
        capture = table_in_use(InferenceTable.from_stored(active.auto_capture), endpoint.ai_gateway)
        published[endpoint.name] = EndpointRoutes(
            endpoint.id,
            endpoint.name,
            active.version,
            tuple((r["served_entity_name"], r["traffic_percentage"]) for r in active.routes),
            served,
            limits,
            frozenset(wakeable),
            capture is not None,
            models,
        )
    return published
