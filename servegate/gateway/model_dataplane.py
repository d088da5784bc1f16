"""Per-model serving URLs: ``/model/NAME[/VERSION|/Staging|/Production|/@ALIAS]/invocations``.

The reference is resolved with the last published snapshot of the registry; a stage or alias
that moves keeps its old version until the new one is ready, so the switch loses nothing.
``/model/NAME/invocations`` serves Production if a version is in it, else the newest version.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.errors import ResourceDoesNotExist, TemporarilyUnavailable
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.dataplane import relay
from servegate.gateway.routing import ModelRoutes
from servegate.observability import request_ids
from servegate.reconciler.plan import DEFAULT_REFERENCE
from servegate.registry.references import canonical_reference, describe_reference, is_version_number
from servegate.store.models import SERVED_MODEL


async def _model_routes(request: Request, context: GatewayContext, name: str) -> ModelRoutes:
    routes = context.routing.model(name)
    if routes is None:
        await context.routing.catch_up()  # a follower may be a moment behind its leader
        routes = context.routing.model(name)
    if routes is not None:
        context.access.require(
            caller_of(request), SERVED_MODEL, name, "CAN_QUERY", f"model '{name}'"
        )
        return routes
    if await run_in_threadpool(context.model_serving.get, name) is None:
        raise ResourceDoesNotExist(
            f"Serving is not enabled for registered model '{name}'; enable it with "
            "POST /api/2.0/mlflow/endpoints/enable."
        )
    context.access.require(caller_of(request), SERVED_MODEL, name, "CAN_QUERY", f"model '{name}'")
    raise TemporarilyUnavailable(f"Serving for model '{name}' is starting; retry shortly.")


def _version_for(routes: ModelRoutes, reference: str) -> str:
    if is_version_number(reference):
        if reference not in routes.status.versions:
            raise ResourceDoesNotExist(
                f"Version {reference} of model '{routes.name}' is not served: it does not "
                "exist or is archived."
            )
        return reference
    version = routes.status.references.get(reference)
    if version is None and reference == DEFAULT_REFERENCE:
        raise ResourceDoesNotExist(f"Model '{routes.name}' has no served version yet.")
    if version is None:
        raise ResourceDoesNotExist(
            f"Model '{routes.name}' has no served version at {describe_reference(reference)}."
        )
    return version


async def _invoke(request: Request, reference: str) -> Response:
    request_ids.begin(request.headers.get(request_ids.HEADER))
    context: GatewayContext = request.app.state.context
    routes = await _model_routes(request, context, request.path_params["model"])
    version = _version_for(routes, canonical_reference(reference))
    handle = routes.versions.get(version)
    return await relay(request, [handle] if handle else [], f"{routes.name}-{version}")


async def invoke_reference(request: Request) -> Response:
    return await _invoke(request, request.path_params["reference"])


async def invoke_default(request: Request) -> Response:
    return await _invoke(request, DEFAULT_REFERENCE)


routes = [
    Route("/model/{model}/invocations", invoke_default, methods=["POST"]),
    Route("/model/{model}/{reference}/invocations", invoke_reference, methods=["POST"]),
]
