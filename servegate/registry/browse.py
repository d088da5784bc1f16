"""What the registry offers to serve, for people choosing: models by name, and each model's
versions, stages and aliases."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from servegate.errors import ResourceDoesNotExist, TemporarilyUnavailable
from servegate.registry.references import STAGES
from servegate.registry.versions import RegistryClient


@dataclass(frozen=True)
class VersionChoice:
    value: str  # what goes into entity_version
    label: str


@dataclass(frozen=True)
class VersionSummary:
    version: str
    stage: str  # None, Staging, Production or Archived
    aliases: tuple[str, ...]
    status: str  # READY, PENDING_REGISTRATION or FAILED_REGISTRATION
    created: int  # ms
    run_id: str | None
    description: str


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str
    updated: int  # ms
    versions: list[VersionSummary] = field(default_factory=list)  # newest first


def _client(registry: RegistryClient) -> MlflowClient:
    return MlflowClient(registry.tracking_uri, registry_uri=registry.tracking_uri)


def _name_filter(text: str) -> str | None:
    """An ILIKE filter for names containing ``text``; ``_`` (any one character) and ``%``
    made into ``_`` match themselves too, so a search never finds less than it should."""
    pattern = "".join(c for c in text if c not in "'\"\\").replace("%", "_")
    return f"name ILIKE '%{pattern}%'" if pattern else None


def _unreadable(error: MlflowException) -> TemporarilyUnavailable:
    return TemporarilyUnavailable(
        f"The model registry could not be searched: {error.message}", retry_after=2
    )


def search_models(registry: RegistryClient, text: str, limit: int = 50) -> list[str]:
    """Registered model names containing ``text`` (any case), sorted."""
    try:
        found = _client(registry).search_registered_models(_name_filter(text), limit)
    except MlflowException as error:
        raise _unreadable(error) from error
    return sorted(model.name for model in found)


def model_summaries(registry: RegistryClient, text: str, limit: int = 50) -> list[ModelSummary]:
    """Registered models whose name contains ``text``, sorted, each with every version:
    two searches, whatever the number of models."""
    client = _client(registry)
    try:
        models = client.search_registered_models(_name_filter(text), limit)
        versions = _all_pages(client, _name_filter(text))
    except MlflowException as error:
        raise _unreadable(error) from error
    return [_summary(model, versions) for model in sorted(models, key=lambda m: m.name)]


def model_summary(registry: RegistryClient, name: str) -> ModelSummary:
    """One registered model with every version; ``ResourceDoesNotExist`` if there is none."""
    client = _client(registry)
    escaped = name.replace("'", "\\'")
    try:
        model = client.get_registered_model(name)
        versions = _all_pages(client, f"name = '{escaped}'")
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise ResourceDoesNotExist(f"Registered model '{name}' does not exist.") from None
        raise _unreadable(error) from error
    return _summary(model, versions)


def _all_pages(client: MlflowClient, filter_string: str | None) -> list[ModelVersion]:
    found: list[ModelVersion] = []
    token = None
    while True:
        page = client.search_model_versions(filter_string, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _summary(model: RegisteredModel, versions: list[ModelVersion]) -> ModelSummary:
    """The model's own versions, each with its aliases (which a version search leaves out:
    the registered model holds them)."""
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    own = [_version_summary(v, aliases) for v in versions if v.name == model.name]
    return ModelSummary(
        model.name,
        model.description or "",
        model.last_updated_timestamp or 0,
        sorted(own, key=lambda v: int(v.version), reverse=True),
    )


def _version_summary(found: ModelVersion, aliases: dict[str, list[str]]) -> VersionSummary:
    return VersionSummary(
        str(found.version),
        found.current_stage or "None",
        tuple(sorted(aliases.get(str(found.version), ()))),
        found.status or "READY",
        found.creation_timestamp or 0,
        found.run_id,
        found.description or "",
    )


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
