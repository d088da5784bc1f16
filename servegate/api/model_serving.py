"""Per-model ("legacy") serving: ``/api/2.0/[preview/]mlflow/endpoints/...``.

Enabling serving for a registered model serves every non-archived version of it, follows
new versions and archivals, and gives each version, stage and alias its own URL (see
``servegate.gateway.model_dataplane``).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.errors import BadRequest, InvalidParameterValue
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.reconciler.model_status import ENDPOINT_PENDING, ModelStatus
from servegate.reconciler.plan import DEFAULT_REFERENCE
from servegate.store.models import SERVED_MODEL
from servegate.store.principals import CREATE_ENDPOINTS

PREFIXES = ("/api/2.0/mlflow/endpoints", "/api/2.0/preview/mlflow/endpoints")


async def _model_name(request: Request) -> str:
    """``registered_model_name`` from the query string or a JSON body (some clients send a
    body even on GET)."""
    name = request.query_params.get("registered_model_name")
    if name is None:
        body = await request.body()
        if body.strip():
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as error:
                raise BadRequest(f"Request body is not valid JSON: {error}") from error
            if isinstance(payload, dict):
                name = payload.get("registered_model_name")
    if not isinstance(name, str) or not name:
        raise InvalidParameterValue("registered_model_name is required.")
    return name


def _context(request: Request) -> GatewayContext:
    return request.app.state.context


async def _enabled_status(request: Request, needed: str = "CAN_VIEW") -> tuple[str, ModelStatus]:
    """The serving status of the model named in the request, if the caller holds ``needed``."""
    context = _context(request)
    name = await _model_name(request)
    if await run_in_threadpool(context.model_serving.get, name) is None:
        raise InvalidParameterValue(f"Serving is not enabled for registered model '{name}'.")
    context.access.require(caller_of(request), SERVED_MODEL, name, needed, f"model '{name}'")
    routes = context.routing.model(name)
    if routes is None:
        return name, ModelStatus(name, ENDPOINT_PENDING, "Serving is starting.")
    return name, routes.status


def _endpoint_body(status: ModelStatus) -> dict[str, Any]:
    return {
        "registered_model_name": status.name,
        "state": status.state,
        "state_message": status.message,
    }


async def enable(request: Request) -> Response:
    context = _context(request)
    caller = caller_of(request)
    context.access.require_entitlement(caller, CREATE_ENDPOINTS, "enable model serving")
    name = await _model_name(request)
    await run_in_threadpool(context.registry.model, name)  # 400 if the model does not exist
    await run_in_threadpool(context.model_serving.enable, name, caller.name, caller.id)
    await run_in_threadpool(context.access.refresh)
    context.role.wake(reread_registry=True)
    return OrjsonResponse({})


async def disable(request: Request) -> Response:
    context = _context(request)
    caller = caller_of(request)
    name = await _model_name(request)
    if await run_in_threadpool(context.model_serving.get, name) is not None:
        context.access.require(caller, SERVED_MODEL, name, "CAN_MANAGE", f"model '{name}'")
        await run_in_threadpool(context.model_serving.disable, name, caller.name)
        context.role.wake()
    return OrjsonResponse({})


async def get_status(request: Request) -> Response:
    _, status = await _enabled_status(request)
    return OrjsonResponse({"endpoint_status": _endpoint_body(status)})


async def list_endpoints(request: Request) -> Response:
    context = _context(request)
    caller = caller_of(request)
    enabled = await run_in_threadpool(context.model_serving.list)
    bodies = []
    for row in enabled:
        if context.access.level(caller, SERVED_MODEL, row.model_name) is None:
            continue
        routes = context.routing.model(row.model_name)
        status = routes.status if routes else ModelStatus(row.model_name, ENDPOINT_PENDING, "")
        bodies.append(_endpoint_body(status))
    return OrjsonResponse({"endpoints": bodies})


async def list_versions(request: Request) -> Response:
    name, status = await _enabled_status(request)
    versions = [
        {
            "registered_model_name": name,
            "endpoint_version_name": version,
            "state": version_status.state,
            "state_message": version_status.message,
        }
        for version, version_status in sorted(status.versions.items(), key=lambda v: int(v[0]))
    ]
    return OrjsonResponse({"endpoint_versions": versions})


async def list_version_aliases(request: Request) -> Response:
    _, status = await _enabled_status(request)
    aliases = [
        {"alias": reference, "endpoint_version_name": version}
        for reference, version in status.references.items()
        if reference != DEFAULT_REFERENCE
    ]
    return OrjsonResponse({"aliases": aliases})


async def get_event_history(request: Request) -> Response:
    context = _context(request)
    name, _ = await _enabled_status(request)
    events = await run_in_threadpool(context.model_serving.events, name)
    return OrjsonResponse(
        {
            "events": [
                {
                    "timestamp": event.timestamp,
                    "event_type": event.event_type,
                    "message": event.message,
                    **({"endpoint_version_name": event.version} if event.version else {}),
                }
                for event in events
            ]
        }
    )


_HANDLERS = (
    ("/enable", enable, "POST"),
    ("/disable", disable, "POST"),
    ("/get-status", get_status, "GET"),
    ("/list", list_endpoints, "GET"),
    ("/list-versions", list_versions, "GET"),
    ("/list-version-aliases", list_version_aliases, "GET"),
    ("/get-event-history", get_event_history, "GET"),
)

routes = [
    Route(prefix + path, handler, methods=[method])
    for prefix in PREFIXES
    for path, handler, method in _HANDLERS
]
