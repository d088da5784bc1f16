"""Users, groups and service principals, SCIM-style (``/api/2.0/preview/scim/v2/...``).

The subset Databricks clients use: create, list (with a simple ``eq`` filter), get, delete,
and PATCH operations on ``active``, ``entitlements`` and group ``members``. Everything but
``/Me`` is for administrators.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.auth.access import Caller
from servegate.errors import BadRequest, InvalidParameterValue, ResourceDoesNotExist
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.store.models import PrincipalRow
from servegate.store.principals import Kind, PrincipalStore

BASE = "/api/2.0/preview/scim/v2"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_SCHEMAS = {
    Kind.USER: "urn:ietf:params:scim:schemas:core:2.0:User",
    Kind.GROUP: "urn:ietf:params:scim:schemas:core:2.0:Group",
    Kind.SERVICE_PRINCIPAL: "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal",
}
_COLLECTIONS = {
    "Users": Kind.USER,
    "Groups": Kind.GROUP,
    "ServicePrincipals": Kind.SERVICE_PRINCIPAL,
}
_NAME_ATTRIBUTE = {
    Kind.USER: "userName",
    Kind.GROUP: "displayName",
    Kind.SERVICE_PRINCIPAL: "applicationId",
}
_FILTER = re.compile(r'^\s*(\w+)\s+eq\s+"([^"]*)"\s*$')
_MEMBER_PATH = re.compile(r'^members\[value eq "([^"]+)"\]$')
_ENTITLEMENT_PATH = re.compile(r'^entitlements\[value eq "([^"]+)"\]$')


def _context(request: Request) -> GatewayContext:
    return request.app.state.context


def _kind(request: Request) -> Kind:
    """The collection a request addresses (``.../Users/...`` → users)."""
    return _COLLECTIONS[request.url.path[len(BASE) + 1 :].split("/")[0]]


def _admin(request: Request, action: str) -> GatewayContext:
    context = _context(request)
    context.access.require_admin(caller_of(request), action)
    return context


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"Request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    return body


def resource(row: PrincipalRow, store: PrincipalStore) -> dict[str, Any]:
    kind = Kind(row.kind)
    body: dict[str, Any] = {
        "schemas": [_SCHEMAS[kind]],
        "id": row.id,
        "displayName": row.display_name,
        "active": row.active,
        "entitlements": [{"value": value} for value in row.entitlements],
    }
    if kind is Kind.USER:
        body["userName"] = row.name
        body["roles"] = [{"value": "admin"}] if row.is_admin else []
    elif kind is Kind.SERVICE_PRINCIPAL:
        body["applicationId"] = row.name
    else:
        body["members"] = [
            {"value": member.id, "display": member.display_name} for member in store.members(row.id)
        ]
    return body


def _values(items: Any, what: str) -> list[str]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) and "value" in i for i in items):
        raise InvalidParameterValue(f"'{what}' must be a list of {{\"value\": ...}} objects.")
    return [str(item["value"]) for item in items]


async def create(request: Request) -> Response:
    context = _admin(request, "manage users, groups and service principals")
    kind = _kind(request)
    body = await _json_body(request)
    if kind is Kind.SERVICE_PRINCIPAL:
        name = body.get("applicationId") or uuid.uuid4().hex
    else:
        name = body.get(_NAME_ATTRIBUTE[kind])
    if not isinstance(name, str) or not name:
        raise InvalidParameterValue(f"'{_NAME_ATTRIBUTE[kind]}' is required.")
    row = await run_in_threadpool(
        context.principals.create,
        kind,
        name,
        body.get("displayName"),
        _values(body.get("entitlements"), "entitlements"),
        _values(body.get("members"), "members") if kind is Kind.GROUP else (),
    )
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse(
        await run_in_threadpool(resource, row, context.principals), status_code=201
    )


async def list_collection(request: Request) -> Response:
    context = _admin(request, "list users, groups and service principals")
    kind = _kind(request)
    rows = await run_in_threadpool(context.principals.list, kind)
    if expression := request.query_params.get("filter"):
        match = _FILTER.match(expression)
        if match is None:
            raise InvalidParameterValue(
                'Only filters of the form attribute eq "value" are supported.'
            )
        attribute, value = match.groups()
        rows = [row for row in rows if _attribute(row, kind, attribute) == value]
    resources = [await run_in_threadpool(resource, row, context.principals) for row in rows]
    return OrjsonResponse(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(resources),
            "startIndex": 1,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


def _attribute(row: PrincipalRow, kind: Kind, attribute: str) -> str | None:
    if attribute == _NAME_ATTRIBUTE[kind]:
        return row.name
    if attribute == "displayName":
        return row.display_name
    if attribute == "id":
        return row.id
    raise InvalidParameterValue(f"Cannot filter on '{attribute}'.")


async def get_one(request: Request) -> Response:
    context = _admin(request, "read users, groups and service principals")
    row = await run_in_threadpool(context.principals.get, request.path_params["id"], _kind(request))
    return OrjsonResponse(await run_in_threadpool(resource, row, context.principals))


async def delete_one(request: Request) -> Response:
    context = _admin(request, "delete users, groups and service principals")
    await run_in_threadpool(context.principals.delete, request.path_params["id"], _kind(request))
    await run_in_threadpool(context.access.refresh)
    return Response(status_code=204)


async def patch_one(request: Request) -> Response:
    context = _admin(request, "change users, groups and service principals")
    kind = _kind(request)
    principal_id = request.path_params["id"]
    row = await run_in_threadpool(context.principals.get, principal_id, kind)
    operations = (await _json_body(request)).get("Operations")
    if not isinstance(operations, list):
        raise InvalidParameterValue("'Operations' must be a list.")
    entitlements = set(row.entitlements)
    active: bool | None = None
    add_members: list[str] = []
    remove_members: list[str] = []
    for operation in operations:
        op = str(operation.get("op", "")).lower()
        path = str(operation.get("path", ""))
        value = operation.get("value")
        if path == "active" and op in ("replace", "add"):
            if not isinstance(value, bool):
                raise InvalidParameterValue("'active' must be true or false.")
            active = value
        elif path == "entitlements" and op in ("add", "replace"):
            values = _values(value, "entitlements")
            entitlements = set(values) if op == "replace" else entitlements | set(values)
        elif path == "entitlements" and op == "remove":
            entitlements -= set(_values(value, "entitlements"))
        elif op == "remove" and (match := _ENTITLEMENT_PATH.match(path)):
            entitlements.discard(match.group(1))
        elif kind is Kind.GROUP and path == "members" and op in ("add", "remove"):
            (add_members if op == "add" else remove_members).extend(_values(value, "members"))
        elif kind is Kind.GROUP and op == "remove" and (match := _MEMBER_PATH.match(path)):
            remove_members.append(match.group(1))
        else:
            raise InvalidParameterValue(f"Unsupported PATCH operation {op!r} on path {path!r}.")
    if add_members or remove_members:
        await run_in_threadpool(
            context.principals.change_members, principal_id, add_members, remove_members
        )
    row = await run_in_threadpool(
        lambda: context.principals.update(principal_id, active=active, entitlements=entitlements)
    )
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse(await run_in_threadpool(resource, row, context.principals))


async def me(request: Request) -> Response:
    context = _context(request)
    caller: Caller = caller_of(request)
    try:
        row = await run_in_threadpool(context.principals.get, caller.id)
    except ResourceDoesNotExist:  # the process token replicas use
        return OrjsonResponse({"id": caller.id, "userName": caller.name, "active": True})
    return OrjsonResponse(await run_in_threadpool(resource, row, context.principals))


routes = [
    Route(BASE + "/Me", me, methods=["GET"]),
    *(
        route
        for name in _COLLECTIONS
        for route in (
            Route(f"{BASE}/{name}", create, methods=["POST"], name=f"create-{name}"),
            Route(f"{BASE}/{name}", list_collection, methods=["GET"], name=f"list-{name}"),
            Route(f"{BASE}/{name}/{{id}}", get_one, methods=["GET"], name=f"get-{name}"),
            Route(f"{BASE}/{name}/{{id}}", delete_one, methods=["DELETE"], name=f"delete-{name}"),
            Route(f"{BASE}/{name}/{{id}}", patch_one, methods=["PATCH"], name=f"patch-{name}"),
        )
    ),
]
