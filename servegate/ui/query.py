"""The query panel: a request body to start from, and code that sends it elsewhere."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servegate.gateway.context import GatewayContext
from servegate.gateway.responses import OrjsonResponse
from servegate.registry.examples import RequestExample, request_example
from servegate.ui.api_client import ApiError, api_for
from servegate.ui.endpoints import BASE
from servegate.ui.render import fragment, page
from servegate.ui.snippets import snippets
from servegate.ui.views import traffic_shares


def _entities(endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    config = endpoint.get("config") or endpoint.get("pending_config") or {}
    entities: list[dict[str, Any]] = config.get("served_entities", [])
    return entities


def _busiest(endpoint: dict[str, Any]) -> str | None:
    """The served model that takes the most traffic: its example is the likeliest to fit."""
    config = endpoint.get("config") or endpoint.get("pending_config")
    shares = traffic_shares(config)
    return max(shares, key=lambda share: share.percent).name if shares else None


async def _example(context: GatewayContext, entity: dict[str, Any]) -> RequestExample:
    version = entity.get("resolved_version") or entity.get("entity_version")
    if version is None:  # a feature spec: the caller sends its lookup keys
        return RequestExample({"dataframe_records": [{}]}, "nothing: give the lookup keys")
    return await run_in_threadpool(
        request_example, context.registry, entity["entity_name"], str(version)
    )


async def _prefill(request: Request, endpoint: dict[str, Any], served: str) -> RequestExample:
    """The example of the served model asked for, or of the busiest one for the endpoint."""
    example_of = served or _busiest(endpoint)
    entity = next((e for e in _entities(endpoint) if e["name"] == example_of), None)
    if entity is None:
        return RequestExample({"dataframe_records": [{}]}, "")
    return await _example(request.app.state.context, entity)


async def query_page(request: Request) -> Response:
    api = api_for(request)
    endpoint = await api.get(f"{BASE}/{request.path_params['name']}")
    served = request.query_params.get("served") or ""
    example = await _prefill(request, endpoint, served)
    return await page(
        request,
        api,
        "endpoint_query.html",
        nav="endpoints",
        tab="query",
        endpoint=endpoint,
        entities=_entities(endpoint),
        served=served,
        example=example,
        body=json.dumps(example.body, indent=2),
    )


async def query_example(request: Request) -> Response:
    """``{"body", "source"}`` for the served model picked in "Send to"."""
    api = api_for(request)
    endpoint = await api.get(f"{BASE}/{request.path_params['name']}")
    example = await _prefill(request, endpoint, request.query_params.get("served") or "")
    return OrjsonResponse({"body": json.dumps(example.body, indent=2), "source": example.source})


async def code_snippets(request: Request) -> Response:
    api_for(request)  # signed in, and asked from this site
    form = await request.form()
    try:
        body = json.loads(str(form.get("body", "")))
    except ValueError as error:
        failure = ApiError(400, "BAD_REQUEST", f"The request body is not valid JSON: {error}")
        return fragment(request, "error_fragment.html", 400, error=failure)
    code = snippets(
        str(request.base_url),
        request.path_params["name"],
        body,
        str(form.get("served", "")) or None,
    )
    return fragment(request, "snippets.html", code=code)
