"""The routing snapshot: published by the reconciler, read by the data plane.

The data plane never queries the store or the registry: it reads the last published
snapshot, a plain dict swapped in one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from servegate.backends.base import ReplicaHandle, ReplicaKey
from servegate.reconciler.desired import LiveEntity
from servegate.store.models import EndpointRow


@dataclass(frozen=True)
class EndpointRoutes:
    name: str
    config_version: int | None
    routes: tuple[tuple[str, int], ...] = ()
    replicas: dict[str, tuple[ReplicaHandle, ...]] = field(default_factory=dict)

    def ready_replicas(self, served: str) -> list[ReplicaHandle]:
        return [replica for replica in self.replicas.get(served, ()) if replica.ready]

    def available(self) -> set[str]:
        return {served for served in self.replicas if self.ready_replicas(served)}


class RoutingTable:
    def __init__(self) -> None:
        self._endpoints: dict[str, EndpointRoutes] = {}

    def publish(self, endpoints: dict[str, EndpointRoutes]) -> None:
        self._endpoints = endpoints

    def get(self, name: str) -> EndpointRoutes | None:
        return self._endpoints.get(name)


def snapshot(
    endpoints: list[EndpointRow], replicas: dict[ReplicaKey, ReplicaHandle]
) -> dict[str, EndpointRoutes]:
    """Routes of every endpoint's *active* config, with the replicas of each served model."""
    published: dict[str, EndpointRoutes] = {}
    for endpoint in endpoints:
        active = next((c for c in endpoint.configs if c.version == endpoint.active_version), None)
        if active is None:
            published[endpoint.name] = EndpointRoutes(endpoint.name, None)
            continue
        served: dict[str, tuple[ReplicaHandle, ...]] = {}
        for row in active.entities:
            handle = replicas.get(LiveEntity.key_for(endpoint, row))
            served[row.name] = (handle,) if handle else ()
        published[endpoint.name] = EndpointRoutes(
            endpoint.name,
            active.version,
            tuple((r["served_entity_name"], r["traffic_percentage"]) for r in active.routes),
            served,
        )
    return published
