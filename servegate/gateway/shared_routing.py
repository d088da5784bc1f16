"""The routing snapshot shared through the store, for gateways that do not lead.

One gateway process leads: its reconciler runs the replicas and publishes the routing
snapshot, and writes it to the store whenever it changes. Every other process (the other
``--workers``, other gateways on the same PostgreSQL) follows: it polls the snapshot's
generation and, when it moves, rebuilds its routing table from the stored copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from typing import Any

from servegate.backends.base import ReplicaHandle, ReplicaKey, ReplicaSpec, ReplicaStatus
from servegate.backends.clients import ReplicaClients
from servegate.gateway.rate_limits import RateLimit
from servegate.gateway.routing import EndpointRoutes, ModelRoutes, RoutingTable
from servegate.reconciler.model_status import ModelStatus, VersionStatus
from servegate.store.routing_snapshot import RoutingSnapshotStore

logger = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 0.2


def encode(endpoints: dict[str, EndpointRoutes], models: dict[str, ModelRoutes]) -> dict[str, Any]:
    """The routing table as JSON-able data: addresses and states, never environment values."""
    return {
        "endpoints": {
            name: {
                "id": routes.id,
                "config_version": routes.config_version,
                "routes": [list(route) for route in routes.routes],
                "replicas": {
                    served: [_encode_replica(handle) for handle in handles]
                    for served, handles in routes.replicas.items()
                },
                "rate_limits": [asdict(limit) for limit in routes.rate_limits],
                "scale_to_zero": sorted(routes.scale_to_zero),
                "capture": routes.capture,
                "models": {served: list(model) for served, model in routes.models.items()},
            }
            for name, routes in endpoints.items()
        },
        "models": {
            name: {
                "status": asdict(routes.status),
                "versions": {
                    version: _encode_replica(handle) if handle else None
                    for version, handle in routes.versions.items()
                },
            }
            for name, routes in models.items()
        },
    }


def _encode_replica(handle: ReplicaHandle) -> dict[str, Any]:
    spec = handle.spec
    return {
        "address": handle.address,
        "status": handle.status.value,
        "message": handle.message,
        "key": asdict(spec.key),
        "log_group": spec.log_group,
        "model_uri": spec.model_uri,
        "concurrency": spec.concurrency,
    }


def decode(
    body: dict[str, Any], clients: ReplicaClients
) -> tuple[dict[str, EndpointRoutes], dict[str, ModelRoutes]]:
    handles: dict[str, ReplicaHandle] = {}

    def replica(data: dict[str, Any]) -> ReplicaHandle:
        handle = handles.get(data["address"])
        if handle is None:
            spec = ReplicaSpec(
                ReplicaKey(**data["key"]), data["log_group"], data["model_uri"], data["concurrency"]
            )
            handle = handles[data["address"]] = ReplicaHandle(
                spec,
                data["address"],
                clients.get(data["address"]),
                status=ReplicaStatus(data["status"]),
                message=data["message"],
            )
        return handle

    endpoints = {
        name: EndpointRoutes(
            data["id"],
            name,
            data["config_version"],
            tuple((served, percentage) for served, percentage in data["routes"]),
            {
                served: tuple(replica(item) for item in items)
                for served, items in data["replicas"].items()
            },
            tuple(RateLimit(**limit) for limit in data["rate_limits"]),
            frozenset(data.get("scale_to_zero", ())),
            data.get("capture", False),
            {served: (name, version) for served, (name, version) in data.get("models", {}).items()},
        )
        for name, data in body.get("endpoints", {}).items()
    }
    models = {
        name: ModelRoutes(
            _decode_status(data["status"]),
            {
                version: replica(item) if item else None
                for version, item in data["versions"].items()
            },
        )
        for name, data in body.get("models", {}).items()
    }
    clients.retain(handles)
    return endpoints, models


def _decode_status(data: dict[str, Any]) -> ModelStatus:
    versions = {version: VersionStatus(**status) for version, status in data["versions"].items()}
    return ModelStatus(data["name"], data["state"], data["message"], versions, data["references"])


class RoutingFollower:
    """Keeps this process's routing table equal to the leader's published snapshot."""

    def __init__(self, store: RoutingSnapshotStore, routing: RoutingTable) -> None:
        self.store = store
        self.routing = routing
        self.clients = ReplicaClients()
        self._generation = -1
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, *, unless_read_since: float | None = None) -> None:
        """Re-read the snapshot if it moved; skipped if a read began after the given time."""
        async with self._lock:
            if unless_read_since is not None and self._checked_at > unless_read_since:
                return
            self._checked_at = time.monotonic()
            generation = await asyncio.to_thread(self.store.generation)
            if generation == self._generation:
                return
            generation, body = await asyncio.to_thread(self.store.read)
            endpoints, models = decode(body, self.clients)
            self.routing.publish(endpoints, models)
            self._generation = generation

    async def catch_up(self) -> None:
        """Called before the data plane answers "unknown" or "not ready": the leader may
        have published a moment ago. Callers arriving together share one read that began
        after they arrived, so no caller sees a table older than its own request."""
        await self.refresh(unless_read_since=time.monotonic())

    async def follow(self, seconds: float) -> None:
        """Follow the snapshot for ``seconds``, then return (to try for leadership again)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                await self.refresh()
            except Exception:
                logger.exception("reading the shared routing snapshot failed; retrying")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(FOLLOW_INTERVAL_S, remaining))

    def forget(self) -> None:
        """This process leads now: the next time it follows, it re-reads everything."""
        self._generation = -1
