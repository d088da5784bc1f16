"""What an endpoint config *is*, independent of any wire format: served entities and routes.

The rules here (names, limits, routes summing to 100) are the contract every front end
(REST, CLI, UI) shares; they raise ``InvalidParameterValue`` with a message naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from servegate.environments import EnvManager
from servegate.errors import InvalidParameterValue
from servegate.inference_tables import InferenceTable

MAX_SERVED_ENTITIES = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
SERVED_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
FEATURE_SPEC_VERSION = ""  # the entity_version of a served feature spec (it has none)
WORKLOAD_CONCURRENCY = {"Small": 4, "Medium": 16, "Large": 64}
RATE_LIMIT_KEYS = ("endpoint", "user", "user_group", "service_principal")  # whose calls count
WORKLOAD_TYPES = (
    "CPU",
    "CPU_MEDIUM",
    "CPU_LARGE",
    "GPU_SMALL",
    "GPU_MEDIUM",
    "GPU_LARGE",
    "GPU_XLARGE",
    "GPU_XLARGE_8",
    "MULTIGPU_MEDIUM",
)


@dataclass(frozen=True)
class ServedEntitySpec:
    """One served model version as the user asked for it."""

    name: str
    entity_name: str
    entity_version: str
    workload_size: str = "Small"
    workload_type: str = "CPU"
    scale_to_zero_enabled: bool = False
    environment_vars: dict[str, str] = field(default_factory=dict)
    min_provisioned_concurrency: int | None = None
    max_provisioned_concurrency: int | None = None
    max_batch_rows: int | None = None  # extension: dynamic batching (see docs/api.md)
    max_batch_wait_ms: float | None = None
    env_manager: EnvManager | None = None  # extension: None is the server's default
    legacy_form: bool = False

    def runtime_fields(self) -> dict[str, Any]:
        """The fields whose change needs a new replica (everything but the name)."""
        return {
            "entity_name": self.entity_name,
            "entity_version": self.entity_version,
            "workload_size": self.workload_size,
            "workload_type": self.workload_type,
            "environment_vars": dict(sorted(self.environment_vars.items())),
            "min_provisioned_concurrency": self.min_provisioned_concurrency,
            "max_provisioned_concurrency": self.max_provisioned_concurrency,
            "scale_to_zero_enabled": self.scale_to_zero_enabled,
            "max_batch_rows": self.max_batch_rows,
            "max_batch_wait_ms": self.max_batch_wait_ms,
            "env_manager": EnvManager(self.env_manager).value if self.env_manager else None,
        }


@dataclass(frozen=True)
class Route:
    served_entity_name: str
    traffic_percentage: int


@dataclass(frozen=True)
class EndpointConfig:
    served_entities: tuple[ServedEntitySpec, ...]
    routes: tuple[Route, ...]
    auto_capture: InferenceTable | None = None


def validate_endpoint_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidParameterValue(
            f"Endpoint name {name!r} is invalid: use 1 to 63 characters, each a letter, "
            "a digit, '-' or '_'."
        )
    return name


def build_endpoint_config(
    entities: list[ServedEntitySpec],
    routes: list[Route] | None,
    auto_capture: InferenceTable | None = None,
) -> EndpointConfig:
    """Check a config as a whole and fill in defaults (one entity alone gets 100%)."""
    if not entities:
        raise InvalidParameterValue(
            "config must serve at least one model: set served_entities (or served_models)."
        )
    if len(entities) > MAX_SERVED_ENTITIES:
        raise InvalidParameterValue(
            f"An endpoint serves at most {MAX_SERVED_ENTITIES} models; "
            f"this config has {len(entities)}."
        )
    names = [entity.name for entity in entities]
    for entity in entities:
        if not SERVED_NAME_PATTERN.match(entity.name):
            raise InvalidParameterValue(
                f"Served model name {entity.name!r} is invalid: use letters, digits, '-' or '_'."
            )
        if names.count(entity.name) > 1:
            raise InvalidParameterValue(
                f"Served model name {entity.name!r} is used more than once in this config; "
                "give each served model a unique name."
            )
    if not routes:
        if len(entities) > 1:
            raise InvalidParameterValue(
                "traffic_config is required when an endpoint serves more than one model."
            )
        routes = [Route(entities[0].name, 100)]
    return EndpointConfig(tuple(entities), _check_routes(routes, names), auto_capture)


def _check_routes(routes: list[Route], names: list[str]) -> tuple[Route, ...]:
    seen: set[str] = set()
    for route in routes:
        if route.served_entity_name not in names:
            raise InvalidParameterValue(
                f"traffic_config names served model {route.served_entity_name!r}, which is not "
                f"in this config (served models: {', '.join(names)})."
            )
        if route.served_entity_name in seen:
            raise InvalidParameterValue(
                f"traffic_config routes to {route.served_entity_name!r} more than once."
            )
        seen.add(route.served_entity_name)
        if not 0 <= route.traffic_percentage <= 100:
            raise InvalidParameterValue(
                f"traffic_percentage for {route.served_entity_name!r} is "
                f"{route.traffic_percentage}; it must be an integer from 0 to 100."
            )
    total = sum(route.traffic_percentage for route in routes)
    if total != 100:
        raise InvalidParameterValue(
            f"traffic_config percentages add up to {total}; they must add up to 100."
        )
    return tuple(routes)
