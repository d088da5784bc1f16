"""Stored endpoints rendered as the Databricks ``ServingEndpoint(Detailed)`` JSON objects."""

from __future__ import annotations

from typing import Any

from servegate.endpoint_config import FEATURE_SPEC_VERSION
from servegate.inference_tables import InferenceTable
from servegate.observability.inference_capture import WriterStatus
from servegate.states import ConfigUpdate, Deployment, Ready
from servegate.store.models import (
    ConfigRow,
    EndpointEventRow,
    EndpointRow,
    ServedEntityRow,
    TagRow,
)

TASK = "model-serving-task"


def shown_config(endpoint: EndpointRow) -> ConfigRow | None:
    """The config serving now, else the one on its way."""
    return _config(endpoint, endpoint.active_version) or _config(endpoint, endpoint.pending_version)


def _config(endpoint: EndpointRow, version: int | None) -> ConfigRow | None:
    if version is None:
        return None
    return next((c for c in endpoint.configs if c.version == version), None)


def ready_state(endpoint: EndpointRow) -> Ready:
    """READY only when every served entity of the active config is serving: ready, or
    recovering a replica while others answer."""
    active = _config(endpoint, endpoint.active_version)
    if active and all(_serving(entity) for entity in active.entities):
        return Ready.READY
    return Ready.NOT_READY


def _serving(entity: ServedEntityRow) -> bool:
    if entity.deployment_state == Deployment.READY.value:
        return True
    ready_replicas = (entity.scaling or {}).get("ready_replicas", 0)
    return entity.deployment_state == Deployment.RECOVERING.value and ready_replicas > 0


def _entity(row: ServedEntityRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": row.name,
        "entity_name": row.entity_name,
        "entity_version": row.entity_version,
        "workload_size": row.spec.get("workload_size"),
        "workload_type": row.spec.get("workload_type"),
        "scale_to_zero_enabled": row.spec.get("scale_to_zero_enabled", False),
        "state": {
            "deployment": row.deployment_state,
            "deployment_state_message": row.state_message,
        },
        "creator": row.creator,
        "creation_timestamp": row.created_at,
    }
    if row.entity_version == FEATURE_SPEC_VERSION:  # a feature spec has no version
        del body["entity_version"]
    elif row.resolved_version is not None:
        body["resolved_version"] = row.resolved_version
    if row.scaling is not None:
        body["scaling"] = row.scaling
    if row.spec.get("environment_vars"):
        body["environment_vars"] = row.spec["environment_vars"]
    for optional in (
        "min_provisioned_concurrency",
        "max_provisioned_concurrency",
        "max_batch_rows",
        "max_batch_wait_ms",
        "env_manager",
    ):
        if row.spec.get(optional) is not None:
            body[optional] = row.spec[optional]
    return body


def _as_served_model(entity: dict[str, Any]) -> dict[str, Any]:
    model = {k: v for k, v in entity.items() if k not in ("entity_name", "entity_version")}
    model["model_name"] = entity["entity_name"]
    model["model_version"] = entity.get("entity_version", FEATURE_SPEC_VERSION)
    return model


def _with_state(table: InferenceTable, writer: WriterStatus, serving: bool) -> dict[str, Any]:
    """The table's fields, and ``state.payload_table``: its name and how capture goes."""
    if not table.enabled:
        status, message = "DISABLED", "Requests are not captured: the inference table is disabled."
    elif not serving:
        status, message = "PENDING", "Requests are captured once this config serves."
    else:
        status, message = writer.status, writer.message
    payload_table = {"status": status, "status_message": message}
    if table.payload_table is not None:
        payload_table = {"name": table.payload_table, **payload_table}
    return {**table.to_dict(), "state": {"payload_table": payload_table}}


def config_body(
    config: ConfigRow, writer: WriterStatus, *, pending: bool = False
) -> dict[str, Any]:
    entities = [_entity(row) for row in config.entities]
    body: dict[str, Any] = {
        "config_version": config.version,
        "served_entities": entities,
        "served_models": [_as_served_model(entity) for entity in entities],
        "traffic_config": {
            "routes": [
                {
                    "served_entity_name": route["served_entity_name"],
                    "served_model_name": route["served_entity_name"],
                    "traffic_percentage": route["traffic_percentage"],
                }
                for route in config.routes
            ]
        },
    }
    table = InferenceTable.from_stored(config.auto_capture)
    if table is not None:
        body["auto_capture_config"] = _with_state(table, writer, serving=not pending)
    if pending:
        body["start_time"] = config.start_time
    return body


def tags_body(tags: list[TagRow]) -> list[dict[str, Any]]:
    return [{"key": t.key, **({"value": t.value} if t.value is not None else {})} for t in tags]


def _common(endpoint: EndpointRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": endpoint.name,
        "id": endpoint.id,
        "creator": endpoint.creator,
        "creation_timestamp": endpoint.created_at,
        "last_updated_timestamp": endpoint.updated_at,
        "state": {"ready": ready_state(endpoint).value, "config_update": endpoint.config_update},
        "tags": tags_body(endpoint.tags),
        "task": TASK,
        "route_optimized": False,
    }
    if endpoint.description:
        body["description"] = endpoint.description
    if endpoint.ai_gateway:
        body["ai_gateway"] = endpoint.ai_gateway
    return body


def endpoint_detailed(
    endpoint: EndpointRow, permission_level: str, writer: WriterStatus
) -> dict[str, Any]:
    """``writer``: how writing the endpoint's inference records goes, as this process sees it."""
    body = _common(endpoint)
    table = InferenceTable.from_stored(body.get("ai_gateway", {}).get("inference_table_config"))
    if table is not None:
        table_body = _with_state(table, writer, serving=True)
        body["ai_gateway"] = {**body["ai_gateway"], "inference_table_config": table_body}
    active = _config(endpoint, endpoint.active_version)
    if active is not None:
        body["config"] = config_body(active, writer)
    pending_shown = endpoint.config_update in (
        ConfigUpdate.IN_PROGRESS.value,
        ConfigUpdate.UPDATE_FAILED.value,
    )
    pending = _config(endpoint, endpoint.pending_version) if pending_shown else None
    if pending is not None:
        body["pending_config"] = config_body(pending, writer, pending=True)
    body["permission_level"] = permission_level
    return body


def endpoint_summary(endpoint: EndpointRow) -> dict[str, Any]:
    body = _common(endpoint)
    shown = shown_config(endpoint)
    if shown is not None:
        body["config"] = {
            "served_entities": [
                {"name": e.name, "entity_name": e.entity_name, "entity_version": e.entity_version}
                for e in shown.entities
            ],
            "served_models": [
                {"name": e.name, "model_name": e.entity_name, "model_version": e.entity_version}
                for e in shown.entities
            ],
        }
    return body


def event_body(row: EndpointEventRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": row.timestamp,
        "event_type": row.event_type,
        "message": row.message,
    }
    if row.served_name is not None:
        body["served_entity_name"] = row.served_name
    return body
