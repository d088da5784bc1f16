"""Permissions of serving endpoints (``/api/2.0/permissions/serving-endpoints/{id}``), and,
with the same shapes, of per-model serving (``/api/2.0/permissions/serving-models/{name}``).

Levels CAN_VIEW ⊂ CAN_QUERY ⊂ CAN_MANAGE, granted to users, groups or service principals.
PUT replaces every direct grant; PATCH adds or changes the ones it names.
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
from servegate.auth.access import LEVEL_DESCRIPTIONS, LEVELS
from servegate.errors import InvalidParameterValue, ResourceDoesNotExist
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.store.models import SERVED_MODEL, SERVING_ENDPOINT
from servegate.store.principals import ADMIN_ID, Kind

_NAME_FIELDS = {
    Kind.USER: "user_name",
    Kind.GROUP: "group_name",
    Kind.SERVICE_PRINCIPAL: "service_principal_name",
}


class AccessControlRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_name: str | None = None
    group_name: str | None = None
    service_principal_name: str | None = None
    permission_level: str


class AccessControlList(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_control_list: list[AccessControlRequest] = []


def _context(request: Request) -> GatewayContext:
    return request.app.state.context


async def _object(request: Request) -> tuple[str, str, str, str]:
    """(object type, object id, the path shown as object_id, a description) of the request."""
    context = _context(request)
    kind, key = request.path_params["kind"], request.path_params["key"]
    if kind == SERVING_ENDPOINT:
        endpoint = await run_in_threadpool(context.endpoints.get_by_id, key)
        return (
            SERVING_ENDPOINT,
            endpoint.id,
            f"/serving-endpoints/{endpoint.id}",
            (f"endpoint '{endpoint.name}'"),
        )
    if kind != SERVED_MODEL:
        raise ResourceDoesNotExist(f"No permissions of '{kind}' objects are kept here.")
    if await run_in_threadpool(context.model_serving.get, key) is None:
        raise ResourceDoesNotExist(f"Serving is not enabled for registered model '{key}'.")
    return SERVED_MODEL, key, f"/serving-models/{key}", f"model '{key}'"


async def _permissions_body(
    context: GatewayContext, object_type: str, object_id: str, shown_id: str
) -> dict[str, Any]:
    grants = await run_in_threadpool(context.principals.grants, object_type, object_id)
    principals = {row.id: row for row in await run_in_threadpool(context.principals.list)}
    entries = []
    admin = principals.get(ADMIN_ID)
    if admin is not None:
        entries.append(
            {
                "user_name": admin.name,
                "display_name": admin.display_name,
                "all_permissions": [
                    {
                        "permission_level": "CAN_MANAGE",
                        "inherited": True,
                        "inherited_from_object": ["/serving-endpoints/"],
                    }
                ],
            }
        )
    for grant in sorted(grants, key=lambda g: principals[g.principal_id].name):
        principal = principals[grant.principal_id]
        entries.append(
            {
                _NAME_FIELDS[Kind(principal.kind)]: principal.name,
                "display_name": principal.display_name,
                "all_permissions": [{"permission_level": grant.level, "inherited": False}],
            }
        )
    object_kind = "serving-endpoint" if object_type == SERVING_ENDPOINT else "serving-model"
    return {"object_id": shown_id, "object_type": object_kind, "access_control_list": entries}


def _resolve(context: GatewayContext, requests: list[AccessControlRequest]) -> dict[str, str]:
    grants: dict[str, str] = {}
    for entry in requests:
        named = [
            (kind, getattr(entry, field))
            for kind, field in _NAME_FIELDS.items()
            if getattr(entry, field)
        ]
        if len(named) != 1:
            raise InvalidParameterValue(
                "Each access control entry names exactly one of user_name, group_name or "
                "service_principal_name."
            )
        if entry.permission_level not in LEVELS:
            raise InvalidParameterValue(
                f"permission_level {entry.permission_level!r} is not one of {', '.join(LEVELS)}."
            )
        kind, name = named[0]
        principal = context.principals.find(kind, name)
        if principal is None:
            raise InvalidParameterValue(f"No {kind.value.replace('_', ' ')} named '{name}'.")
        grants[principal.id] = entry.permission_level
    return grants


async def get_permissions(request: Request) -> Response:
    context = _context(request)
    object_type, object_id, shown, what = await _object(request)
    context.access.require(caller_of(request), object_type, object_id, "CAN_VIEW", what)
    return OrjsonResponse(await _permissions_body(context, object_type, object_id, shown))


@accepts(AccessControlList)
async def _change(request: Request, replace: bool) -> Response:
    context = _context(request)
    object_type, object_id, shown, what = await _object(request)
    context.access.require(caller_of(request), object_type, object_id, "CAN_MANAGE", what)
    body = parse_body(await request.body(), AccessControlList)
    grants = await run_in_threadpool(_resolve, context, body.access_control_list)
    await run_in_threadpool(
        context.principals.set_grants, object_type, object_id, grants, replace=replace
    )
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse(await _permissions_body(context, object_type, object_id, shown))


async def set_permissions(request: Request) -> Response:
    return await _change(request, replace=True)


async def update_permissions(request: Request) -> Response:
    return await _change(request, replace=False)


async def permission_levels(request: Request) -> Response:
    context = _context(request)
    object_type, object_id, _, what = await _object(request)
    context.access.require(caller_of(request), object_type, object_id, "CAN_VIEW", what)
    return OrjsonResponse(
        {
            "permission_levels": [
                {"permission_level": level, "description": LEVEL_DESCRIPTIONS[level]}
                for level in LEVELS
            ]
        }
    )


BASE = "/api/2.0/permissions/{kind:str}/{key:str}"

routes = [
    Route(BASE, get_permissions, methods=["GET"]),
    Route(BASE, set_permissions, methods=["PUT"]),
    Route(BASE, update_permissions, methods=["PATCH"]),
    Route(BASE + "/permissionLevels", permission_levels, methods=["GET"]),
]
