"""Where the endpoints to deploy come from: a file, or a running gateway's API.

A file holds what ``POST /api/2.0/serving-endpoints`` takes — one body, a list of them, or
``{"endpoints": [...]}`` — as JSON or YAML; ``GET /api/2.0/serving-endpoints/NAME`` answers
work too. Either way each config passes the same checks the API makes, so a file that
deploys is one the gateway would accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from servegate.api.serving_schemas import CreateEndpointInput, EndpointConfigInput
from servegate.client import ServegateClient
from servegate.endpoint_config import EndpointConfig, validate_endpoint_name
from servegate.errors import BadRequest, InvalidParameterValue, ServegateError


@dataclass(frozen=True)
class EndpointSpec:
    """An endpoint to deploy: its name and the config it serves."""

    name: str
    config: EndpointConfig


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("endpoints"), list):
        return data["endpoints"]
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    raise BadRequest(
        "An endpoint file holds an endpoint (an object with name and config), a list of them, "
        'or {"endpoints": [...]}.'
    )


def _one_form(config: Any) -> Any:
    """A GET answer lists every model twice, as ``served_entities`` and ``served_models``:
    keep the first."""
    if isinstance(config, dict) and config.get("served_entities") and "served_models" in config:
        return {key: value for key, value in config.items() if key != "served_models"}
    return config


def _endpoint(item: Any, where: str) -> EndpointSpec:
    if not isinstance(item, dict):
        raise InvalidParameterValue(f"{where}: an endpoint is an object with name and config.")
    try:
        parsed = CreateEndpointInput.model_validate(
            {**item, "config": _one_form(item.get("config"))}
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidParameterValue(f"{where}.{field}: {first['msg']}.") from error
    try:
        return EndpointSpec(validate_endpoint_name(parsed.name), parsed.to_config())
    except ServegateError as error:
        raise InvalidParameterValue(f"{where} ({parsed.name!r}): {error.message}") from error


def endpoints_from_file(path: Path) -> list[EndpointSpec]:
    """The endpoints of a JSON or YAML file, each checked; errors name the file and item."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise BadRequest(f"Cannot read {path}: {error.strerror}.") from error
    except yaml.YAMLError as error:
        raise BadRequest(f"{path} is neither JSON nor YAML: {error}") from error
    items = _items(data)
    if not items:
        raise BadRequest(f"{path} holds no endpoint.")
    endpoints = [_endpoint(item, f"{path}: endpoints[{i}]") for i, item in enumerate(items)]
    names = [endpoint.name for endpoint in endpoints]
    for name in names:
        if names.count(name) > 1:
            raise InvalidParameterValue(f"{path}: endpoint {name!r} appears more than once.")
    return endpoints


def endpoints_from_gateway(client: ServegateClient, names: list[str]) -> list[EndpointSpec]:
    """The active config (else the pending one) of each named endpoint, or of every one."""
    if not names:
        names = [endpoint["name"] for endpoint in client.endpoints()]
    found = []
    for name in names:
        body = client.endpoint(name)
        config = _one_form(body.get("config") or body.get("pending_config"))
        if not config:
            raise InvalidParameterValue(f"Endpoint {name!r} has no config to deploy.")
        config.pop("auto_capture_config", None)  # the gateway's inference table, not the pods'
        found.append(EndpointSpec(name, EndpointConfigInput.model_validate(config).to_config(name)))
    return found


def select(endpoints: list[EndpointSpec], names: list[str]) -> list[EndpointSpec]:
    """The named endpoints, in the order named (all of them when none is named)."""
    if not names:
        return endpoints
    by_name = {endpoint.name: endpoint for endpoint in endpoints}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise InvalidParameterValue(
            f"No endpoint {', '.join(map(repr, missing))} here; there are: "
            f"{', '.join(by_name) or 'none'}."
        )
    return [by_name[name] for name in names]
