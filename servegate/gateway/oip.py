"""The Open Inference Protocol (KServe v2) at the gateway: a model is an endpoint, routed by
its traffic split, and a model version one of its served models.

Inference and metadata are forwarded to a replica, which speaks the protocol itself
(``servegate.replica.oip_routes``); readiness is answered here from the routing table. Every
error carries the protocol's ``{"error": ...}`` (with ``error_code`` and ``message``).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import servegate
from servegate.errors import TemporarilyUnavailable, oip_errors
from servegate.gateway import dataplane
from servegate.gateway.context import GatewayContext
from servegate.gateway.dataplane import ReplicaCall
from servegate.gateway.responses import OrjsonResponse
from servegate.observability import request_ids


def _at_replica(model: str, suffix: str, method: str) -> Callable[[str], ReplicaCall]:
    """The same route at a replica of the served model, which names it the version."""
    return lambda served: ReplicaCall(f"/v2/models/{model}/versions/{served}{suffix}", method)


async def infer(request: Request) -> Response:
    model = request.path_params["model"]
    return await dataplane.invoke(
        request, model, request.path_params.get("version"), _at_replica(model, "/infer", "POST")
    )


async def metadata(request: Request) -> Response:
    model = request.path_params["model"]
    answer = await dataplane.invoke(
        request, model, request.path_params.get("version"), _at_replica(model, "", "GET")
    )
    if answer.status_code != 200 or "version" in request.path_params:
        return answer
    context: GatewayContext = request.app.state.context
    routes = context.routing.get(model)
    described = orjson.loads(answer.body)
    described["versions"] = sorted(routes.replicas) if routes else described["versions"]
    kept = (dataplane.SERVED_MODEL_HEADER, request_ids.HEADER)
    return OrjsonResponse(described, headers={name: answer.headers[name] for name in kept})


async def model_ready(request: Request) -> Response:
    context: GatewayContext = request.app.state.context
    model, version = request.path_params["model"], request.path_params.get("version")
    routes = await dataplane.routes_of(request, context, model)
    if version is not None:
        dataplane.pick_served(routes, version)  # a 404 for a served model it does not have
        ready = bool(routes.ready_replicas(version))
    else:
        ready = bool(routes.available())
    if not ready:
        raise TemporarilyUnavailable(f"Model '{model}' is not ready; retry shortly.", 1)
    return OrjsonResponse({"name": model, "ready": True})


async def server_live(request: Request) -> Response:
    return OrjsonResponse({"live": True})


async def server_ready(request: Request) -> Response:
    """Ready once every endpoint has a served model to answer with."""
    context: GatewayContext = request.app.state.context
    waiting = [
        routes.name
        for routes in context.routing.snapshot()[0].values()
        if routes.config_version is None or not routes.available()
    ]
    if waiting:
        raise TemporarilyUnavailable(f"Not ready yet: {', '.join(sorted(waiting))}.", 1)
    return OrjsonResponse({"ready": True})


async def server_metadata(request: Request) -> Response:
    return OrjsonResponse({"name": "servegate", "version": servegate.__version__, "extensions": []})


routes: list[BaseRoute] = [
    Route("/v2/health/live", oip_errors(server_live), methods=["GET"]),
    Route("/v2/health/ready", oip_errors(server_ready), methods=["GET"]),
    Route("/v2", oip_errors(server_metadata), methods=["GET"]),
]
for _path in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
    routes += [
        Route(_path + "/infer", oip_errors(infer), methods=["POST"]),
        Route(_path + "/ready", oip_errors(model_ready), methods=["GET"]),
        Route(_path, oip_errors(metadata), methods=["GET"]),
    ]
