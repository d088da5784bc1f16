"""An endpoint's permissions: who holds which level, and, for those who manage it, granting
and revoking (the permissions API's PATCH and PUT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servegate.ui.api_client import ApiClient, ApiError, api_for
from servegate.ui.endpoints import BASE
from servegate.ui.render import fragment, page

PERMISSIONS = "/api/2.0/permissions/serving-endpoints"
LEVELS = ("CAN_VIEW", "CAN_QUERY", "CAN_MANAGE")
KINDS = {  # the ACL's name field → what a reader calls it
    "user_name": "user",
    "group_name": "group",
    "service_principal_name": "service principal",
}


@dataclass(frozen=True)
class Grant:
    kind: str  # a key of KINDS
    name: str
    level: str
    inherited_from: tuple[str, ...] = ()


@dataclass
class GrantForm:
    kind: str = "user_name"
    principal: str = ""
    level: str = "CAN_QUERY"
    errors: dict[str, str] = field(default_factory=dict)
    done: str = ""  # what the last change did, for the status line

    def place(self, message: str) -> None:
        """An API refusal next to the field it is about."""
        if message.startswith("No ") or "exactly one of" in message:
            self.errors["principal"] = message
        elif "permission_level" in message:
            self.errors["level"] = message
        else:
            self.errors["general"] = message


def grants_of(acl: dict[str, Any]) -> list[Grant]:
    grants = []
    for entry in acl.get("access_control_list", []):
        kind = next((k for k in KINDS if entry.get(k)), "user_name")
        for held in entry.get("all_permissions", []):
            origin = tuple(held.get("inherited_from_object") or ()) if held.get("inherited") else ()
            grants.append(Grant(kind, entry.get(kind, ""), held["permission_level"], origin))
    return grants


async def _state(api: ApiClient, name: str) -> tuple[dict[str, Any], list[Grant]]:
    endpoint: dict[str, Any] = await api.get(f"{BASE}/{name}")
    acl = await api.get(f"{PERMISSIONS}/{endpoint['id']}")
    return endpoint, grants_of(acl)


def _context(endpoint: dict[str, Any], grants: list[Grant], form: GrantForm) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "grants": grants,
        "form": form,
        "kinds": KINDS,
        "levels": LEVELS,
        "manages": endpoint.get("permission_level") == "CAN_MANAGE",
    }


async def endpoint_permissions(request: Request) -> Response:
    api = api_for(request)
    endpoint, grants = await _state(api, request.path_params["name"])
    return await page(
        request,
        api,
        "endpoint_permissions.html",
        nav="endpoints",
        tab="permissions",
        **_context(endpoint, grants, GrantForm()),
    )


async def change_permissions(request: Request) -> Response:
    """Grant (PATCH: adds, or changes a level) or revoke (PUT of every other direct grant)."""
    api = api_for(request)
    endpoint, grants = await _state(api, request.path_params["name"])
    data = await request.form()
    form = GrantForm(
        kind=str(data.get("kind", "user_name")),
        principal=str(data.get("principal", "")).strip(),
        level=str(data.get("level", "CAN_QUERY")),
    )
    if form.kind not in KINDS:
        form.errors["kind"] = "Choose a user, a group or a service principal."
    elif not form.principal:
        form.errors["principal"] = f"Give the name of a {KINDS[form.kind]}."
    revoking = data.get("action") == "revoke"
    if not form.errors:
        path = f"{PERMISSIONS}/{endpoint['id']}"
        try:
            if revoking:
                kept = [
                    {g.kind: g.name, "permission_level": g.level}
                    for g in grants
                    if not g.inherited_from and (g.kind, g.name) != (form.kind, form.principal)
                ]
                acl = await api.send("PUT", path, {"access_control_list": kept})
            else:
                entry = {form.kind: form.principal, "permission_level": form.level}
                acl = await api.send("PATCH", path, {"access_control_list": [entry]})
        except ApiError as error:
            form.place(error.message)
        else:
            grants = grants_of(acl)
            what = KINDS[form.kind]
            form = GrantForm(
                done=f"Revoked the permissions of {what} {form.principal}."
                if revoking
                else f"Granted {form.level} to {what} {form.principal}."
            )
    status = 422 if form.errors else 200
    return fragment(request, "_permissions.html", status, **_context(endpoint, grants, form))
