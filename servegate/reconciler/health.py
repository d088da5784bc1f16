"""Pure policies: a served entity's deployment state, and how long to wait before a restart."""

from __future__ import annotations

from servegate.backends.base import ReplicaHandle, ReplicaStatus
from servegate.states import Deployment
from servegate.store.models import ServedEntityRow

MAX_RESTART_DELAY_S = 30.0


def entity_state(
    handle: ReplicaHandle | None, row: ServedEntityRow, *, pending: bool
) -> tuple[Deployment, str]:
    uri = f"models:/{row.entity_name}/{row.entity_version}"
    if handle is None:
        return Deployment.CREATING, f"Waiting for a replica of {uri}."
    status = handle.status
    if status is ReplicaStatus.READY:
        return Deployment.READY, f"Serving {uri}."
    if status is ReplicaStatus.STARTING:
        if handle.restarts:
            return (
                Deployment.RECOVERING,
                f"Restarting the replica of {uri} (restart {handle.restarts}).",
            )
        return Deployment.CREATING, f"Loading {uri}."
    if status is ReplicaStatus.EXITED:
        return Deployment.RECOVERING, f"{handle.message} Restarting it."
    if status is ReplicaStatus.FAILED:
        if pending:
            return Deployment.FAILED, handle.message
        return Deployment.FAILED, f"{handle.message} Retrying."
    return Deployment.RECOVERING, f"Replacing the replica of {uri}."


def restart_delay(restarts: int, status: ReplicaStatus) -> float:
    """A replica that crashed while serving comes back at once; repeated failures back off."""
    if status is ReplicaStatus.EXITED and restarts == 0:
        return 0.0
    return min(MAX_RESTART_DELAY_S, float(2**restarts))
