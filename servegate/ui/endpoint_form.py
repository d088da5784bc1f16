"""The create/edit endpoint form: its fields, the API body they make, and where an API error
belongs on it.

The API's messages name what is wrong (a field path, a served model, a model version); the
form puts each next to the field it names, and anything else above the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from servegate.endpoint_config import MAX_SERVED_ENTITIES

WORKLOAD_SIZES = ("Small", "Medium", "Large")
_FIELD_PATH = re.compile(r"served_(?:entities|models)[.\[](\d+)\]?(?:\.(\w+))?")
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]+")
_QUOTED = re.compile(r"'([^']+)'")
_FIELD_OF = {
    "entity_name": "model",
    "model_name": "model",
    "entity_version": "version",
    "model_version": "version",
    "name": "served",
    "workload_size": "size",
    "scale_to_zero_enabled": "zero",
    "environment_vars": "env",
    "env_manager": "python",
}


@dataclass
class ServedRow:
    model: str = ""
    version: str = ""
    served: str = ""
    size: str = "Small"
    scale_to_zero: bool = False
    traffic: str = "100"
    env: str = ""
    env_manager: str = ""  # "": the server's default

    def served_name(self) -> str:
        """The name the API gives a served entity left unnamed: ``<model>-<version>``."""
        if self.served:
            return self.served
        return "-".join(filter(None, (self.model.replace(".", "-"), self.version.lstrip("@"))))


@dataclass
class EndpointForm:
    name: str = ""
    rows: list[ServedRow] = field(default_factory=lambda: [ServedRow()])
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: FormData) -> EndpointForm:
        count = min(_int(form.get("rows"), 1), MAX_SERVED_ENTITIES)
        rows = [
            ServedRow(
                model=_text(form, f"model-{i}"),
                version=_text(form, f"version-{i}"),
                served=_text(form, f"served-{i}"),
                size=_text(form, f"size-{i}") or "Small",
                scale_to_zero=form.get(f"zero-{i}") == "on",
                traffic=_text(form, f"traffic-{i}"),
                env=str(form.get(f"env-{i}", "")),
                env_manager=_text(form, f"python-{i}"),
            )
            for i in range(count)
        ]
        return cls(_text(form, "name"), rows or [ServedRow()])

    @classmethod
    def serving(cls, model: str, version: str) -> EndpointForm:
        """A new endpoint's form with one served model filled in, named after the model
        (as far as endpoint names allow)."""
        name = _NOT_IN_NAMES.sub("-", model).strip("-")[:63]
        return cls(name, [ServedRow(model=model.strip(), version=version.strip())])

    @classmethod
    def from_endpoint(cls, endpoint: dict[str, Any]) -> EndpointForm:
        """The form filled with an endpoint's newest config, to edit it."""
        config = endpoint.get("pending_config") or endpoint.get("config") or {}
        shares = {
            route.get("served_entity_name") or route.get("served_model_name"): route
            for route in config.get("traffic_config", {}).get("routes", [])
        }
        rows = [
            ServedRow(
                model=entity["entity_name"],
                version=entity.get("entity_version", ""),
                served=entity["name"],
                size=entity.get("workload_size") or "Small",
                scale_to_zero=bool(entity.get("scale_to_zero_enabled")),
                traffic=str(shares.get(entity["name"], {}).get("traffic_percentage", 100)),
                env="\n".join(f"{k}={v}" for k, v in entity.get("environment_vars", {}).items()),
                env_manager=entity.get("env_manager") or "",
            )
            for entity in config.get("served_entities", [])
        ]
        return cls(endpoint["name"], rows or [ServedRow()])

    def add_row(self) -> None:
        if len(self.rows) < MAX_SERVED_ENTITIES:
            self.rows.append(ServedRow(traffic="0"))

    def remove_row(self, index: int) -> None:
        if 0 <= index < len(self.rows) and len(self.rows) > 1:
            del self.rows[index]

    def config(self) -> dict[str, Any] | None:
        """The API's endpoint config, or None with ``errors`` set for what the form itself
        can tell is wrong (the API checks the rest)."""
        entities = []
        for i, row in enumerate(self.rows):
            entity: dict[str, Any] = {
                "entity_name": row.model,
                "entity_version": row.version,
                "workload_size": row.size,
                "scale_to_zero_enabled": row.scale_to_zero,
            }
            if row.served:
                entity["name"] = row.served
            if (env := self._environment(i, row.env)) is not None:
                entity["environment_vars"] = env
            if row.env_manager:
                entity["env_manager"] = row.env_manager
            if not row.model:
                self.errors[f"model-{i}"] = "Choose a registered model."
            entities.append(entity)
        config: dict[str, Any] = {"served_entities": entities}
        if len(self.rows) > 1:
            config["traffic_config"] = {"routes": self._routes()}
        return None if self.errors else config

    def _environment(self, index: int, text: str) -> dict[str, str] | None:
        variables = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            key, equals, value = line.partition("=")
            if not equals or not key.strip():
                self.errors[f"env-{index}"] = f"Line {number}: write NAME=value."
                return None
            variables[key.strip()] = value.strip()
        return variables or None

    def _routes(self) -> list[dict[str, Any]]:
        routes = []
        for i, row in enumerate(self.rows):
            if not row.traffic.isdigit() or int(row.traffic) > 100:
                self.errors[f"traffic-{i}"] = "A whole number from 0 to 100."
                continue
            routes.append(
                {"served_entity_name": row.served_name(), "traffic_percentage": int(row.traffic)}
            )
        total = sum(route["traffic_percentage"] for route in routes)
        if len(routes) == len(self.rows) and total != 100:
            self.errors["traffic"] = f"Traffic adds up to {total}%; it must add up to 100%."
        return routes

    def place(self, error_code: str, message: str) -> None:
        """Put an API error next to the field it is about (``general`` if none is named)."""
        self.errors[self._field_for(error_code, message)] = message

    def _field_for(self, error_code: str, message: str) -> str:
        if error_code == "RESOURCE_ALREADY_EXISTS" or message.startswith("Endpoint name"):
            return "name"
        if path := _FIELD_PATH.search(message):
            index = int(path.group(1))
            return f"{_FIELD_OF.get(path.group(2) or '', 'model')}-{index}"
        if "traffic" in message:
            return "traffic"
        quoted = _QUOTED.findall(message)
        for i, row in enumerate(self.rows):
            if (
                message.startswith(("Served model name", "Served entity"))
                and row.served_name() in quoted
            ):
                return f"served-{i}"
            if message.startswith("Registered model") and row.model in quoted:
                return f"model-{i}"
            if message.startswith("Model ") and row.model in quoted:
                return f"version-{i}"
            if "secret" in message.lower() and f"served model '{row.served_name()}'" in message:
                return f"env-{i}"
        return "general"


def _text(form: FormData, key: str) -> str:
    return str(form.get(key, "")).strip()


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default
