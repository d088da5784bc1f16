"""Per-model serving status in the legacy API's terms, and the events its changes make."""

from __future__ import annotations

from dataclasses import dataclass, field

from servegate.backends.base import ReplicaHandle, ReplicaStatus
from servegate.reconciler.plan import DEFAULT_REFERENCE, ModelPlan
from servegate.store.model_serving import MODEL_UPDATE, VERSION_UPDATE

ENDPOINT_PENDING = "ENDPOINT_STATE_PENDING"
ENDPOINT_READY = "ENDPOINT_STATE_READY"
ENDPOINT_FAILED = "ENDPOINT_STATE_FAILED"
VERSION_PENDING = "VERSION_STATE_PENDING"
VERSION_LAUNCHING = "VERSION_STATE_LAUNCHING"
VERSION_READY = "VERSION_STATE_READY"
VERSION_FAILED = "VERSION_STATE_FAILED"


@dataclass(frozen=True)
class VersionStatus:
    state: str
    message: str


@dataclass(frozen=True)
class ModelStatus:
    name: str
    state: str
    message: str
    versions: dict[str, VersionStatus] = field(default_factory=dict)  # served versions
    references: dict[str, str] = field(default_factory=dict)  # stage/@alias/"" → version


def version_status(handle: ReplicaHandle | None) -> VersionStatus:
    if handle is None:
        return VersionStatus(VERSION_PENDING, "Waiting for a replica.")
    if handle.status is ReplicaStatus.READY:
        return VersionStatus(VERSION_READY, "Serving.")
    if handle.status is ReplicaStatus.FAILED:
        return VersionStatus(VERSION_FAILED, handle.message)
    if handle.status is ReplicaStatus.EXITED:
        return VersionStatus(VERSION_LAUNCHING, f"{handle.message} Restarting it.")
    return VersionStatus(VERSION_LAUNCHING, "Loading the model.")


def model_status(plan: ModelPlan, replicas: dict) -> ModelStatus:  # type: ignore[type-arg]
    if plan.state is None:
        return ModelStatus(plan.name, ENDPOINT_PENDING, "Reading the registry.")
    if not plan.state.exists:
        return ModelStatus(
            plan.name, ENDPOINT_FAILED, f"Registered model '{plan.name}' does not exist."
        )
    versions = {v: version_status(replicas.get(plan.kept[v])) for v in plan.served}
    references = {
        reference: following.current
        for reference, following in plan.references.items()
        if following.current is not None
    }
    failed = [v for v, status in versions.items() if status.state == VERSION_FAILED]
    if failed:
        state, message = ENDPOINT_FAILED, f"Version(s) {', '.join(failed)} failed to start."
    elif all(status.state == VERSION_READY for status in versions.values()):
        state, message = ENDPOINT_READY, f"Serving {len(versions)} version(s)."
    else:
        state, message = ENDPOINT_PENDING, "Starting versions."
    return ModelStatus(plan.name, state, message, versions, references)


def status_events(
    before: ModelStatus | None, after: ModelStatus
) -> list[tuple[str, str | None, str]]:
    """(event_type, version, message) for what changed between two statuses."""
    events: list[tuple[str, str | None, str]] = []
    old_versions = before.versions if before else {}
    for version, status in after.versions.items():
        old = old_versions.get(version)
        if old is None or old.state != status.state:
            events.append((VERSION_UPDATE, version, f"Version {version}: {_describe(status)}"))
    for version in old_versions.keys() - after.versions.keys():
        events.append((VERSION_UPDATE, version, f"Version {version} is no longer served."))
    old_references = before.references if before else {}
    for reference, version in after.references.items():
        if old_references.get(reference) != version and reference != DEFAULT_REFERENCE:
            events.append((MODEL_UPDATE, version, f"{reference} is served by version {version}."))
    return events


def _describe(status: VersionStatus) -> str:
    return {
        VERSION_PENDING: "waiting to launch.",
        VERSION_LAUNCHING: "launching.",
        VERSION_READY: "ready.",
    }.get(status.state, f"failed: {status.message}")
