"""Secrets (``/api/2.0/secrets/...``, a subset of the Databricks API), for administrators.

Values go in and never come out: no route returns them. A served model's
``environment_vars`` may reference one as ``{{secrets/scope/key}}``; it is decrypted only
into the environment of that model's replica.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.api.openapi import accepts
from servegate.api.serving_schemas import parse_body
from servegate.errors import InvalidParameterValue
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse

BASE = "/api/2.0/secrets"


class ScopeInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    scope: str


class SecretInput(ScopeInput):
    key: str
    string_value: str | None = None
    bytes_value: str | None = None


def _admin(request: Request) -> GatewayContext:
    context: GatewayContext = request.app.state.context
    context.access.require_admin(caller_of(request), "manage secrets")
    return context


@accepts(ScopeInput)
async def create_scope(request: Request) -> Response:
    context = _admin(request)
    body = parse_body(await request.body(), ScopeInput)
    await run_in_threadpool(context.secrets.create_scope, body.scope)
    return OrjsonResponse({})


@accepts(ScopeInput)
async def delete_scope(request: Request) -> Response:
    context = _admin(request)
    body = parse_body(await request.body(), ScopeInput)
    await run_in_threadpool(context.secrets.delete_scope, body.scope)
    return OrjsonResponse({})


async def list_scopes(request: Request) -> Response:
    context = _admin(request)
    scopes = await run_in_threadpool(context.secrets.scopes)
    return OrjsonResponse({"scopes": [{"name": s, "backend_type": "DATABRICKS"} for s in scopes]})


@accepts(SecretInput)
async def put_secret(request: Request) -> Response:
    context = _admin(request)
    body = parse_body(await request.body(), SecretInput)
    if body.string_value is None:
        raise InvalidParameterValue("string_value is required (bytes_value is not supported).")
    await run_in_threadpool(context.secrets.put, body.scope, body.key, body.string_value)
    return OrjsonResponse({})


@accepts(SecretInput)
async def delete_secret(request: Request) -> Response:
    context = _admin(request)
    body = parse_body(await request.body(), SecretInput)
    await run_in_threadpool(context.secrets.delete, body.scope, body.key)
    return OrjsonResponse({})


async def list_secrets(request: Request) -> Response:
    context = _admin(request)
    scope = request.query_params.get("scope")
    if not scope:
        raise InvalidParameterValue("scope is required.")
    rows = await run_in_threadpool(context.secrets.keys, scope)
    return OrjsonResponse(
        {"secrets": [{"key": row.key, "last_updated_timestamp": row.updated_at} for row in rows]}
    )


routes = [
    Route(f"{BASE}/scopes/create", create_scope, methods=["POST"]),
    Route(f"{BASE}/scopes/delete", delete_scope, methods=["POST"]),
    Route(f"{BASE}/scopes/list", list_scopes, methods=["GET"]),
    Route(f"{BASE}/put", put_secret, methods=["POST"]),
    Route(f"{BASE}/delete", delete_secret, methods=["POST"]),
    Route(f"{BASE}/list", list_secrets, methods=["GET"]),
]
