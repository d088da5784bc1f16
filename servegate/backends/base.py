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
class ReplicaSpec:
    key: ReplicaKey
    log_group: str  # where its logs go (see servegate.observability.logs)
    model_uri: str
    concurrency: int
    environment_vars: dict[str, str] = field(default_factory=dict)
    max_batch_rows: int | None = None  # None: the replica's default
    max_batch_wait_ms: float | None = None
    endpoint_name: str = ""  # the endpoint it serves, for its metrics' labels
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
    requests it is answering are done.
    """

    spec: ReplicaSpec
    address: str
    client: ReplicaClient
    restarts: int = 0
    status: ReplicaStatus = ReplicaStatus.STARTING
    message: str = ""
    inflight: int = 0
    pid: int | None = None

    @property
    def ready(self) -> bool:
        return self.status is ReplicaStatus.READY


class Backend(Protocol):
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
