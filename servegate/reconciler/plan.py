"""The replicas the store and the registry ask for, and which version serves each reference.

Served entities of every endpoint's active config (and pending config while its update is in
progress), and every served version of every model with per-model serving enabled, plus the
versions still serving a stage or alias that is moving.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from servegate.backends.base import FEATURE_SPEC_SCHEME, ReplicaKey, ReplicaSpec
from servegate.endpoint_config import FEATURE_SPEC_VERSION
from servegate.environments import EnvManager
from servegate.observability.logs import endpoint_group, model_group
from servegate.reconciler.autoscaling import MODEL_REPLICA_CONCURRENCY, scaling_bounds
from servegate.reconciler.following import Following, VersionFollower
from servegate.registry.references import STAGES, is_version_number
from servegate.registry.snapshot import RegisteredModelState, RegistrySnapshot
from servegate.states import ConfigUpdate
from servegate.store.models import EndpointRow, ServedEntityRow

DEFAULT_REFERENCE = ""  # /model/NAME/invocations: Production, else the newest version


FEATURE_SPEC = "feature-spec"  # what a served feature spec "resolves" to


def entity_uri(name: str, version: str) -> str:
    """What a replica serves: a model version, or a feature spec."""
    if version == FEATURE_SPEC:
        return f"{FEATURE_SPEC_SCHEME}{name}"
    return f"models:/{name}/{version}"


def entity_key(endpoint: EndpointRow, row: ServedEntityRow, version: str | None) -> ReplicaKey:
    runtime = {"name": row.entity_name, "version": version, **row.spec}
    digest = hashlib.sha256(orjson.dumps(runtime, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return ReplicaKey(endpoint.id, row.name, digest[:16])


def model_version_key(model_name: str, version: str) -> ReplicaKey:
    return ReplicaKey(f"model:{model_name}", version, "registered")


def model_references(state: RegisteredModelState) -> list[str]:
    return [*STAGES, DEFAULT_REFERENCE, *(f"@{alias}" for alias in sorted(state.aliases))]


@dataclass
class ModelPlan:
    name: str
    state: RegisteredModelState | None
    served: list[str] = field(default_factory=list)  # non-archived versions
    kept: dict[str, ReplicaKey] = field(default_factory=dict)  # every version with a replica
    references: dict[str, Following] = field(default_factory=dict)


@dataclass
class Plan:
    replicas: dict[ReplicaKey, ReplicaSpec] = field(default_factory=dict)
    pending_only: set[ReplicaKey] = field(default_factory=set)
    entities: dict[int, Following] = field(default_factory=dict)  # by served entity row id
    models: dict[str, ModelPlan] = field(default_factory=dict)


def make_plan(
    endpoints: list[EndpointRow],
    enabled_models: list[str],
    registry: RegistrySnapshot,
    follower: VersionFollower,
    ready: Callable[[ReplicaKey], bool],
    slots: int = MODEL_REPLICA_CONCURRENCY,
) -> Plan:
    """``slots``: requests one replica of an endpoint's entity answers at once."""
    plan = Plan()
    for endpoint in endpoints:
        _plan_endpoint(plan, endpoint, registry, follower, ready, slots)
    for name in enabled_models:
        plan.models[name] = _plan_model(plan, name, registry.get(name), follower, ready)
    follower.forget_unseen()
    return plan


def _plan_endpoint(
    plan: Plan,
    endpoint: EndpointRow,
    registry: RegistrySnapshot,
    follower: VersionFollower,
    ready: Callable[[ReplicaKey], bool],
    slots: int,
) -> None:
    in_progress = endpoint.config_update == ConfigUpdate.IN_PROGRESS.value
    active_keys: set[ReplicaKey] = set()
    pending_keys: set[ReplicaKey] = set()
    for config in endpoint.configs:
        active = config.version == endpoint.active_version
        if not (active or (in_progress and config.version == endpoint.pending_version)):
            continue
        for row in config.entities:
            reference = row.entity_version
            if reference == FEATURE_SPEC_VERSION:
                following = Following(FEATURE_SPEC, FEATURE_SPEC)
            elif is_version_number(reference):
                following = Following(reference, reference)
            else:
                model = registry.get(row.entity_name)
                following = follower.follow(
                    ("endpoint", endpoint.id, config.version, row.name),
                    model.resolve(reference) if model else None,
                    lambda version, row=row: ready(entity_key(endpoint, row, version)),
                )
            plan.entities[row.id] = following
            for version in following.needed:
                key = entity_key(endpoint, row, version)
                plan.replicas[key] = _entity_spec(endpoint, row, key, version, slots)
                (active_keys if active else pending_keys).add(key)
    plan.pending_only |= pending_keys - active_keys


def _entity_spec(
    endpoint: EndpointRow, row: ServedEntityRow, key: ReplicaKey, version: str, slots: int
) -> ReplicaSpec:
    return ReplicaSpec(
        key=key,
        log_group=endpoint_group(endpoint.name),
        model_uri=entity_uri(row.entity_name, version),
        concurrency=slots,
        environment_vars=dict(row.spec.get("environment_vars") or {}),
        max_batch_rows=row.spec.get("max_batch_rows"),
        max_batch_wait_ms=row.spec.get("max_batch_wait_ms"),
        endpoint_name=endpoint.name,
        bounds=scaling_bounds(row.spec, slots),
        env_manager=EnvManager(manager) if (manager := row.spec.get("env_manager")) else None,
    )


def _plan_model(
    plan: Plan,
    name: str,
    state: RegisteredModelState | None,
    follower: VersionFollower,
    ready: Callable[[ReplicaKey], bool],
) -> ModelPlan:
    model = ModelPlan(name, state)
    if state is None or not state.exists:
        return model
    model.served = state.served_versions()
    versions = dict.fromkeys(model.served)
    for reference in model_references(state):
        following = follower.follow(
            ("model", name, reference),
            state.resolve(reference),
            lambda version: ready(model_version_key(name, version)),
        )
        model.references[reference] = following
        versions.update(dict.fromkeys(following.needed))
    for version in versions:
        key = model_version_key(name, version)
        model.kept[version] = key
        plan.replicas[key] = ReplicaSpec(
            key=key,
            log_group=model_group(name),
            model_uri=f"models:/{name}/{version}",
            concurrency=MODEL_REPLICA_CONCURRENCY,
        )
    return model
