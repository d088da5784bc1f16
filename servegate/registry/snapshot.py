"""What the registry says now about the models servegate follows: versions, stages, aliases.

The reconciler reads it a few times a second and resolves references with it; requests never
call the registry. A reference is a version number, a stage (``Staging``, ``Production``) or an
alias (``@champion``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from servegate.registry.references import STAGES, canonical_reference, is_version_number

logger = logging.getLogger(__name__)

ARCHIVED = "Archived"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    stage: str
    ready: bool  # registration finished (artifacts uploaded)


@dataclass(frozen=True)
class RegisteredModelState:
    name: str
    exists: bool
    versions: dict[str, VersionInfo] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def served_versions(self) -> list[str]:
        """Every registered, non-archived version, oldest first."""
        return sorted(
            (v.version for v in self.versions.values() if v.ready and v.stage != ARCHIVED),
            key=int,
        )

    def in_stage(self, stage: str) -> str | None:
        matching = [v.version for v in self.versions.values() if v.ready and v.stage == stage]
        return max(matching, key=int) if matching else None

    def default_version(self) -> str | None:
        """What ``/model/NAME/invocations`` serves: Production if any, else the newest."""
        served = self.served_versions()
        return self.in_stage("Production") or (served[-1] if served else None)

    def resolve(self, reference: str) -> str | None:
        """The version a reference points at now, or None."""
        reference = canonical_reference(reference)
        if reference == "":
            return self.default_version()
        if is_version_number(reference):
            info = self.versions.get(reference)
            return reference if info and info.ready else None
        if reference.startswith("@"):
            version = self.aliases.get(reference[1:])
            info = self.versions.get(version or "")
            return version if info and info.ready else None
        if reference in STAGES:
            return self.in_stage(reference)
        return None


RegistrySnapshot = dict[str, RegisteredModelState]


class RegistryReader:
    """Reads the state of named models from MLflow, one search per model."""

    def __init__(self, tracking_uri: str) -> None:
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def read(self, names: Iterable[str]) -> RegistrySnapshot:
        snapshot: RegistrySnapshot = {}
        for name in names:
            try:
                snapshot[name] = self.read_one(name)
            except MlflowException as error:
                logger.warning("could not read model %s from the registry: %s", name, error)
        return snapshot

    def read_one(self, name: str) -> RegisteredModelState:
        try:
            registered = self._client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return RegisteredModelState(name, exists=False)
            raise
        escaped = name.replace("'", "\\'")
        versions = {
            str(found.version): VersionInfo(
                str(found.version), found.current_stage or "None", found.status == "READY"
            )
            for found in self._client.search_model_versions(f"name = '{escaped}'")
        }
        aliases = {alias: str(version) for alias, version in (registered.aliases or {}).items()}
        return RegisteredModelState(name, True, versions, aliases)
