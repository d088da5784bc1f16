"""The interface between the reconciler and whatever runs replicas."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from servegate.backends.clients import ReplicaClient
from servegate.environments import EnvManager

FEATURE_SPEC_SCHEME = "feature-spec:"  # a replica's model URI when it serves a feature spec


@dataclass(frozen=True)
class ReplicaKey:
    """Identifies the replica a served entity needs: a change to any part needs a new one."""

    endpoint_id: str
    served_name: str
    spec_hash: str


@dataclass(frozen=True)
class ScalingBounds:
    """How many replicas a served entity runs while awake, and whether it may run none."""

    min_replicas: int = 1
    max_replicas: int = 1
    scale_to_zero: bool = False

    @property
    def floor(self) -> int:
        """The fewest replicas while the entity is awake."""
        return max(1, self.min_replicas)

    @property
    def fixed(self) -> bool:
        """Nothing to decide: one count, and never zero."""
        return self.floor == self.max_replicas and not self.scale_to_zero


@dataclass(frozen=True)
class ReplicaSpec:
    key: ReplicaKey
    log_group: str  # where its logs go (see servegate.observability.logs)
    model_uri: str
    concurrency: int
    environment_vars: dict[str, str] = field(default_factory=dict)
    max_batch_rows: int | None = None  # None: the replica's default
    max_batch_wait_ms: float | None = None
    endpoint_name: str = ""  # the endpoint it serves, for its metrics' labels
    bounds: ScalingBounds = ScalingBounds()
    env_manager: EnvManager | None = None  # None: the backend's default

    @property
    def served_name(self) -> str:
        return self.key.served_name


class ReplicaStatus(str, Enum):
    STARTING = "STARTING"
    READY = "READY"
    FAILED = "FAILED"  # exited before it ever became ready
    EXITED = "EXITED"  # exited after serving
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


@dataclass(eq=False)
class ReplicaHandle:
    """One running (or starting, or dead) replica, as the reconciler and data plane see it.

    ``inflight`` is kept by the data plane so a retired replica is stopped only once the
    requests it is answering are done. ``replicas`` is one, except on a backend that scales
    by itself, which keeps it at the number of replicas serving behind the handle (zero
    when scaled to zero).
    """

    spec: ReplicaSpec
    address: str
    client: ReplicaClient
    restarts: int = 0
    status: ReplicaStatus = ReplicaStatus.STARTING
    message: str = ""
    inflight: int = 0
    pid: int | None = None
    replicas: int = 1

    @property
    def ready(self) -> bool:
        return self.status is ReplicaStatus.READY


class Backend(Protocol):
    scales_replicas: bool
    """True when the backend runs each spec's replicas between its ``bounds`` itself (Ray
    Serve): the reconciler then asks it for one handle per served entity and leaves the
    count, scale to zero included, to it. False: one handle is one replica, and the
    reconciler scales (``servegate.reconciler.autoscaling``)."""

    async def warm(self) -> None:
        """Get ready to start replicas (when this process begins to lead)."""

    async def close(self) -> None:
        """Release what ``warm`` took (when the gateway stops)."""

    async def tend(self) -> None:
        """Upkeep while this process leads (rotating logs, say); runs until cancelled."""

    async def start(self, spec: ReplicaSpec, restarts: int = 0) -> ReplicaHandle:
        """Launch a replica and return at once; its status moves to READY or FAILED."""

    async def stop(self, handle: ReplicaHandle) -> None:
        """Stop gracefully (in-flight requests finish), then forcefully after a grace period."""
