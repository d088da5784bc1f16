"""Endpoint pages: the list, one endpoint's overview, its events and logs; deleting one."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servegate.ui.api_client import ApiClient, api_for
from servegate.ui.render import fragment, page
from servegate.ui.views import deployment_badge

BASE = "/api/2.0/serving-endpoints"
EVENTS_SHOWN = 200


async def _detailed(api: ApiClient, name: str) -> dict[str, Any]:
    endpoint: dict[str, Any] = await api.get(f"{BASE}/{name}")
    return endpoint


async def endpoint_list(request: Request) -> Response:
    """Every endpoint the user may see, with the detail the list API leaves out (traffic)."""
    api = api_for(request)
    listed = (await api.get(BASE))["endpoints"]
    endpoints = await asyncio.gather(*(_detailed(api, e["name"]) for e in listed))
    endpoints.sort(key=lambda e: e["name"])
    return await page(request, api, "endpoints.html", nav="endpoints", endpoints=endpoints)


async def endpoint_overview(request: Request) -> Response:
    api = api_for(request)
    endpoint = await _detailed(api, request.path_params["name"])
    return await page(
        request,
        api,
        "endpoint.html",
        nav="endpoints",
        tab="overview",
        endpoint=endpoint,
        deployment_badge=deployment_badge,
    )


async def endpoint_state(request: Request) -> Response:
    """The state panel alone: htmx polls it while an update is under way."""
    endpoint = await _detailed(api_for(request), request.path_params["name"])
    return fragment(
        request, "endpoint_state.html", endpoint=endpoint, deployment_badge=deployment_badge
    )


async def endpoint_events(request: Request) -> Response:
    api = api_for(request)
    name = request.path_params["name"]
    endpoint = await _detailed(api, name)
    events = (await api.get(f"{BASE}/{name}/events", limit=EVENTS_SHOWN))["events"]
    return await page(
        request,
        api,
        "endpoint_events.html",
        nav="endpoints",
        tab="events",
        endpoint=endpoint,
        events=list(reversed(events)),
    )


async def endpoint_logs(request: Request) -> Response:
    """The newest lines of one served model's log; the page's script follows it live."""
    api = api_for(request)
    name = request.path_params["name"]
    endpoint = await _detailed(api, name)
    served = _served_names(endpoint)
    chosen = request.query_params.get("served") or (served[0] if served else None)
    kind = "build-logs" if request.query_params.get("kind") == "build" else "logs"
    logs = None
    if chosen is not None:
        logs = (await api.get(f"{BASE}/{name}/served-models/{chosen}/{kind}"))["logs"]
    return await page(
        request,
        api,
        "endpoint_logs.html",
        nav="endpoints",
        tab="logs",
        endpoint=endpoint,
        served=served,
        chosen=chosen,
        kind=kind,
        logs=logs,
    )


async def delete_endpoint(request: Request) -> Response:
    name = request.path_params["name"]
    await api_for(request).request("DELETE", f"{BASE}/{name}")
    return Response(status_code=204, headers={"HX-Redirect": "/ui/"})


def _served_names(endpoint: dict[str, Any]) -> list[str]:
    """Served models of the active and the pending config, each once."""
    names: list[str] = []
    for key in ("config", "pending_config"):
        for entity in endpoint.get(key, {}).get("served_entities", []):
            if entity["name"] not in names:
                names.append(entity["name"])
    return names
