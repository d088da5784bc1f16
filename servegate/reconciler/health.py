"""Pure policies: a served entity's deployment state, and how long to wait before a restart."""

from __future__ import annotations

from servegate.backends.base import ReplicaStatus
from servegate.reconciler.following import Following
from servegate.reconciler.plan import FEATURE_SPEC, entity_uri
from servegate.reconciler.replica_set import ReplicaSet
from servegate.registry.references import describe_reference, is_version_number
from servegate.states import Deployment
from servegate.store.models import ServedEntityRow

MAX_RESTART_DELAY_S = 30.0


def entity_state(
    replica_set: ReplicaSet | None,
    row: ServedEntityRow,
    *,
    pending: bool,
    following: Following,
    registry_checked: bool,
) -> tuple[Deployment, str]:
    """``registry_checked``: the registry was read after this config was stored, so a
    reference that resolves to nothing really points nowhere (not merely not seen yet)."""
    reference = row.entity_version
    if following.current is None:
        where = describe_reference(reference)
        if not registry_checked:
            return Deployment.CREATING, f"Resolving {where} of '{row.entity_name}'."
        message = f"Model '{row.entity_name}' has no version at {where}."
        return (Deployment.FAILED if pending else Deployment.RECOVERING), message
    uri = entity_uri(row.entity_name, following.current)
    if not is_version_number(reference) and following.current != FEATURE_SPEC:
        uri += f" ({reference})"
    if replica_set is not None and replica_set.asleep:
        return Deployment.READY, (
            f"Scaled to zero: no request for a while. The next request starts a replica of {uri}."
        )
    handle = replica_set.primary if replica_set else None
    if handle is None:
        return Deployment.CREATING, f"Waiting for a replica of {uri}."
    assert replica_set is not None
    status = handle.status
    if status is ReplicaStatus.READY:
        serving = f"Serving {uri}"
        if replica_set.bounds.max_replicas > 1:
            serving += f" on {replica_set.ready_replicas} of {replica_set.replicas} replicas"
        if following.moving:
            return Deployment.READY, (
                f"{serving}; starting version {following.target}, which {reference} points at now."
            )
        if replacing := _replacing(replica_set):
            return Deployment.RECOVERING, f"{serving}; {replacing}."
        return Deployment.READY, f"{serving}."
    if replica_set.woken and status is ReplicaStatus.STARTING:
        return Deployment.READY, f"Waking from zero for a request: loading {uri}."
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


def _replacing(replica_set: ReplicaSet) -> str | None:
    """What is said of a replica that exited while others serve, until it is back."""
    for handle in replica_set.handles:
        if handle.status is ReplicaStatus.EXITED:
            return "one replica exited and is being restarted"
        if handle.status is ReplicaStatus.STARTING and handle.restarts:
            return f"restarting a replica that exited (restart {handle.restarts})"
    return None


def restart_delay(restarts: int, status: ReplicaStatus) -> float:
    """A replica that crashed while serving comes back at once; repeated failures back off."""
    if status is ReplicaStatus.EXITED and restarts == 0:
        return 0.0
    return min(MAX_RESTART_DELAY_S, float(2**restarts))
