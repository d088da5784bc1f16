"""``/openapi.json``: the gateway's own API, described from its routes as they are.

Paths, methods and path parameters come from the app's routing table, so nothing is listed
that does not answer and nothing answers unlisted; a handler's first docstring line is its
summary, and a body it parses (``accepts``) is described by that pydantic model's JSON
schema. Errors share one schema: ``{"error_code", "message"}``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

import servegate
from servegate.auth.middleware import PUBLIC_PATHS

Handler = TypeVar("Handler", bound=Callable[..., Any])

DOCUMENTED_PREFIXES = (
    "/api/",
    "/serving-endpoints/",
    "/model/",
    "/v2",
    "/.well-known/",
    "/health",
    "/ping",
    "/metrics",
    "/openapi.json",
)

_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_ERROR_STATUSES = {
    "400": "The request is wrong (the message says how).",
    "401": "No token, or not a valid one.",
    "403": "The token's principal may not do this.",
    "404": "No such resource.",
}


def accepts(model: type[BaseModel]) -> Callable[[Handler], Handler]:
    """Mark a handler as parsing its JSON body with ``model`` (for the description)."""

    def mark(handler: Handler) -> Handler:
        handler.openapi_body = model  # type: ignore[attr-defined]
        return handler

    return mark


def _documented(routes: list[BaseRoute]) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    for route in routes:
        if not isinstance(route, Route) or "{rest:path}" in route.path:
            continue
        if route.path.endswith("/") and len(route.path) > 1:
            continue  # a trailing-slash alias some clients use
        if not route.path.startswith(DOCUMENTED_PREFIXES):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield route.path, method, route.endpoint


def _tag(path: str) -> str:
    if path.startswith("/api/2.0/"):
        return path.removeprefix("/api/2.0/").removeprefix("preview/").split("/")[0]
    if path.startswith(("/serving-endpoints/", "/model/")):
        return "data plane"
    if path.startswith("/v2"):
        return "open inference protocol"
    return "health"


def _operation(path: str, method: str, handler: Callable[..., Any]) -> dict[str, Any]:
    doc = inspect.getdoc(handler) or ""
    summary = doc.splitlines()[0] if doc else handler.__name__.replace("_", " ").capitalize()
    operation: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}{path}").strip("_"),
        "summary": summary,
        "tags": [_tag(path)],
        "responses": {
            "200": {"description": "Done.", "content": {"application/json": {}}},
            **{
                status: {
                    "description": description,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for status, description in _ERROR_STATUSES.items()
            },
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAMETER.findall(path)
    ]
    if parameters:
        operation["parameters"] = parameters
    body = getattr(handler, "openapi_body", None)
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
            },
        }
    if path in PUBLIC_PATHS:
        operation["security"] = []
    return operation


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    models: dict[str, type[BaseModel]] = {}
    for path, method, handler in _documented(routes):
        openapi_path = _PARAMETER.sub(r"{\1}", path)
        paths.setdefault(openapi_path, {})[method.lower()] = _operation(path, method, handler)
        if (body := getattr(handler, "openapi_body", None)) is not None:
            models[body.__name__] = body
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error_code", "message"],
            "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
        }
    }
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "servegate",
            "version": servegate.__version__,
            "description": "Real-time serving for MLflow models: the Databricks serving-"
            "endpoints API, the data plane, per-model serving, tokens, permissions, features.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
    }
