"""Named feature specs: ``/api/2.0/feature-specs``, served by feature serving endpoints.

A spec is what ``FeatureSpec.to_dict`` gives (``ServegateClient.create_feature_spec`` sends
it); its lookups are checked against the feature tables here, its functions are stored as
sent and only ever unpickled by a replica serving it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.api.openapi import accepts
from servegate.api.serving_schemas import parse_body
from servegate.errors import InvalidParameterValue
from servegate.features.spec import check_lookups, lookups_of
from servegate.features.tables import NAME_PATTERN
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.store.principals import CREATE_ENDPOINTS

BASE = "/api/2.0/feature-specs"


class SpecInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    spec: dict[str, Any]


def _context(request: Request, *, writes: bool) -> GatewayContext:
    context: GatewayContext = request.app.state.context
    if writes:
        context.access.require_entitlement(
            caller_of(request), CREATE_ENDPOINTS, "create and delete feature specs"
        )
    return context


@accepts(SpecInput)
async def create_spec(request: Request) -> Response:
    context = _context(request, writes=True)
    given = parse_body(await request.body(), SpecInput)
    if not NAME_PATTERN.match(given.name):
        raise InvalidParameterValue(f"Feature spec name {given.name!r} is invalid.")
    try:
        lookups = lookups_of(given.spec)
        functions = [
            (item["code"], item["input_bindings"], item["output_name"])
            for item in given.spec.get("functions", [])
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise InvalidParameterValue(
            f"spec is not a feature spec (as FeatureSpec.to_dict gives): {error!r} is missing."
        ) from None
    if not lookups and not functions:
        raise InvalidParameterValue("A feature spec needs a lookup or a function.")
    tables = {t.name: t for t in await run_in_threadpool(context.feature_tables.list)}
    check_lookups(lookups, tables)
    created = await run_in_threadpool(
        context.feature_specs.create, given.name, given.spec, caller_of(request).name
    )
    return OrjsonResponse(created)


async def list_specs(request: Request) -> Response:
    context = _context(request, writes=False)
    return OrjsonResponse({"feature_specs": await run_in_threadpool(context.feature_specs.list)})


async def get_spec(request: Request) -> Response:
    context = _context(request, writes=False)
    return OrjsonResponse(
        await run_in_threadpool(context.feature_specs.get, request.path_params["name"])
    )


async def delete_spec(request: Request) -> Response:
    context = _context(request, writes=True)
    await run_in_threadpool(context.feature_specs.delete, request.path_params["name"])
    return OrjsonResponse({})


routes = [
    Route(BASE, create_spec, methods=["POST"]),
    Route(BASE, list_specs, methods=["GET"]),
    Route(BASE + "/{name}", get_spec, methods=["GET"]),
    Route(BASE + "/{name}", delete_spec, methods=["DELETE"]),
]
