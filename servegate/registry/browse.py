"""What the registry offers to serve, for people choosing: models by name, and each model's
versions, stages and aliases."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from servegate.errors import TemporarilyUnavailable
from servegate.registry.snapshot import STAGES
from servegate.registry.versions import RegistryClient


@dataclass(frozen=True)
class VersionChoice:
    value: str  # what goes into entity_version
    label: str


def search_models(registry: RegistryClient, text: str, limit: int = 50) -> list[str]:
    """Registered model names containing ``text`` (any case), sorted."""
    pattern = "".join(c for c in text if c not in "'\"\\%_")
    client = MlflowClient(registry.tracking_uri, registry_uri=registry.tracking_uri)
    try:
        found = client.search_registered_models(
            filter_string=f"name ILIKE '%{pattern}%'" if pattern else None, max_results=limit
        )
    except MlflowException as error:
        raise TemporarilyUnavailable(
            f"The model registry could not be searched: {error.message}", retry_after=2
        ) from error
    return sorted(model.name for model in found)


def version_choices(registry: RegistryClient, name: str) -> list[VersionChoice]:
    """Every live version (newest first), then each stage and alias, which follow the
    registry as it moves (the label says where each points now)."""
    state = registry.model(name)
    by_version: dict[str, list[str]] = {}
    for alias, version in state.aliases.items():
        by_version.setdefault(version, []).append(f"@{alias}")
    choices = []
    for version in sorted(state.served_versions(), key=int, reverse=True):
        info = state.versions[version]
        marks = [info.stage] if info.stage in STAGES else []
        marks += by_version.get(version, [])
        choices.append(VersionChoice(version, " · ".join([f"Version {version}", *marks])))
    for stage in STAGES:
        if (now := state.resolve(stage)) is not None:
            choices.append(VersionChoice(stage, f"{stage} (follows the stage; now {now})"))
    for alias in sorted(state.aliases):
        now = state.aliases[alias]
        choices.append(VersionChoice(f"@{alias}", f"@{alias} (follows the alias; now {now})"))
    return choices
