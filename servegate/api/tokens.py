"""Personal access tokens (``/api/2.0/token/...``) and admin token management
(``/api/2.0/token-management/...``), in the Databricks shapes.

Token values are shown once, in the create answer; the store keeps only their digests.
Servegate extension: ``on-behalf-of/tokens`` also takes ``user_name``, so an administrator
can hand a user their first token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.api.openapi import accepts
from servegate.api.serving_schemas import parse_body
from servegate.auth.tokens import MAX_LIFETIME_S
from servegate.errors import InvalidParameterValue
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.store.models import TokenRow
from servegate.store.principals import Kind


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lifetime_seconds: int | None = Field(default=None, gt=0, le=MAX_LIFETIME_S)
    comment: str | None = None


class CreateOnBehalf(CreateToken):
    application_id: str | None = None
    user_name: str | None = None


class DeleteToken(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token_id: str


def token_info(row: TokenRow, with_owner: bool = False) -> dict[str, Any]:
    info: dict[str, Any] = {
        "token_id": row.id,
        "creation_time": row.created_at,
        "expiry_time": row.expires_at if row.expires_at is not None else -1,
        "comment": row.comment or "",
    }
    if row.last_used_at is not None:
        info["last_used_time"] = row.last_used_at
    if with_owner:
        info["owner_id"] = row.principal
    return info


def _context(request: Request) -> GatewayContext:
    return request.app.state.context


async def _issue(context: GatewayContext, principal_id: str, body: CreateToken) -> Response:
    token, row = await run_in_threadpool(
        context.tokens.create, principal_id, body.lifetime_seconds, body.comment
    )
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse({"token_value": token, "token_info": token_info(row)})


@accepts(CreateToken)
async def create_token(request: Request) -> Response:
    body = parse_body(await request.body(), CreateToken)
    return await _issue(_context(request), caller_of(request).id, body)


async def list_tokens(request: Request) -> Response:
    rows = await run_in_threadpool(_context(request).tokens.list, caller_of(request).id)
    return OrjsonResponse({"token_infos": [token_info(row) for row in rows]})


@accepts(DeleteToken)
async def delete_token(request: Request) -> Response:
    context = _context(request)
    body = parse_body(await request.body(), DeleteToken)
    await run_in_threadpool(context.tokens.revoke, body.token_id, caller_of(request).id)
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse({})


@accepts(CreateOnBehalf)
async def create_on_behalf(request: Request) -> Response:
    context = _context(request)
    context.access.require_admin(caller_of(request), "create tokens for others")
    body = parse_body(await request.body(), CreateOnBehalf)
    if bool(body.application_id) == bool(body.user_name):
        raise InvalidParameterValue("Give exactly one of application_id or user_name.")
    kind = Kind.SERVICE_PRINCIPAL if body.application_id else Kind.USER
    name = body.application_id or body.user_name
    principal = await run_in_threadpool(context.principals.find, kind, name)
    if principal is None:
        raise InvalidParameterValue(f"No {kind.value.replace('_', ' ')} named '{name}'.")
    return await _issue(context, principal.id, body)


async def list_all_tokens(request: Request) -> Response:
    context = _context(request)
    context.access.require_admin(caller_of(request), "list every token")
    rows = await run_in_threadpool(context.tokens.list, None)
    return OrjsonResponse({"token_infos": [token_info(row, with_owner=True) for row in rows]})


async def revoke_any_token(request: Request) -> Response:
    context = _context(request)
    context.access.require_admin(caller_of(request), "revoke others' tokens")
    await run_in_threadpool(context.tokens.revoke, request.path_params["token_id"], None)
    await run_in_threadpool(context.access.refresh)
    return OrjsonResponse({})


routes = [
    Route("/api/2.0/token/create", create_token, methods=["POST"]),
    Route("/api/2.0/token/list", list_tokens, methods=["GET"]),
    Route("/api/2.0/token/delete", delete_token, methods=["POST"]),
    Route("/api/2.0/token-management/on-behalf-of/tokens", create_on_behalf, methods=["POST"]),
    Route("/api/2.0/token-management/tokens", list_all_tokens, methods=["GET"]),
    Route("/api/2.0/token-management/tokens/{token_id}", revoke_any_token, methods=["DELETE"]),
]
