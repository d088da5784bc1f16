"""Feature tables: ``/api/2.0/feature-tables`` (define, list, upsert rows, look up, delete).

Defining, filling and deleting tables needs the entitlement to create serving endpoints;
any signed-in caller may list tables and look values up.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.api.openapi import accepts
from servegate.api.serving_schemas import parse_body
from servegate.body import read_limited_body
from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.features.frames import frame_of
from servegate.features.online.base import OnlineStoreUnavailable
from servegate.features.tables import (
    FeatureTable,
    check_table,
    key_of,
    newest_per_key,
    rows_of,
    table_json,
)
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.store.principals import CREATE_ENDPOINTS

BASE = "/api/2.0/feature-tables"
MAX_LOOKUP_KEYS = 10_000
_RETRY_AFTER_S = 5


class ColumnInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: str


class TableInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    primary_keys: list[str] = Field(min_length=1)
    schema_: list[ColumnInput] = Field(alias="schema", min_length=1)
    timestamp_key: str | None = None
    ttl_seconds: float | None = None
    description: str | None = None


class LookupInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[dict[str, Any]] = Field(max_length=MAX_LOOKUP_KEYS)


def table_body(table: FeatureTable) -> dict[str, Any]:
    return {key: value for key, value in table_json(table).items() if key != "id"}


def _context(request: Request, *, writes: bool) -> GatewayContext:
    context: GatewayContext = request.app.state.context
    if writes:
        context.access.require_entitlement(
            caller_of(request), CREATE_ENDPOINTS, "create and change feature tables"
        )
    return context


async def _online(call: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(call, *args)
    except OnlineStoreUnavailable as error:
        raise TemporarilyUnavailable(
            f"The online store is unreachable: {error}", retry_after=_RETRY_AFTER_S
        ) from error


@accepts(TableInput)
async def create_table(request: Request) -> Response:
    context = _context(request, writes=True)
    given = parse_body(await request.body(), TableInput)
    columns: dict[str, str] = {}
    for column in given.schema_:
        if column.name in columns:
            raise InvalidParameterValue(f"schema names column {column.name!r} twice.")
        columns[column.name] = column.type
    table = check_table(
        FeatureTable(
            name=given.name,
            primary_keys=tuple(given.primary_keys),
            columns=columns,
            timestamp_key=given.timestamp_key,
            ttl_seconds=given.ttl_seconds,
            description=given.description,
        )
    )
    created = await run_in_threadpool(context.feature_tables.create, table, caller_of(request).name)
    return OrjsonResponse(table_body(created))


async def list_tables(request: Request) -> Response:
    context = _context(request, writes=False)
    tables = await run_in_threadpool(context.feature_tables.list)
    return OrjsonResponse({"feature_tables": [table_body(table) for table in tables]})


async def get_table(request: Request) -> Response:
    context = _context(request, writes=False)
    table = await run_in_threadpool(context.feature_tables.get, request.path_params["name"])
    return OrjsonResponse(table_body(table))


async def delete_table(request: Request) -> Response:
    context = _context(request, writes=True)
    table = await run_in_threadpool(context.feature_tables.delete, request.path_params["name"])
    await run_in_threadpool(context.feature_history.drop, table)
    await _online(context.online_store.drop, table)
    return OrjsonResponse({})


async def upsert_rows(request: Request) -> Response:
    context = _context(request, writes=True)
    table = await run_in_threadpool(context.feature_tables.get, request.path_params["name"])
    body = await read_limited_body(request, context.settings.max_request_bytes)
    frame = await run_in_threadpool(frame_of, request.headers.get("content-type", ""), body)
    rows = await run_in_threadpool(rows_of, table, frame)
    await run_in_threadpool(context.feature_history.add, table, rows)  # the record, first
    newest = newest_per_key(rows)
    stored = await _online(context.online_store.write, table, newest)
    return OrjsonResponse({"rows": len(frame), "keys": len(newest), "stored": stored})


@accepts(LookupInput)
async def lookup(request: Request) -> Response:
    context = _context(request, writes=False)
    table = await run_in_threadpool(context.feature_tables.get, request.path_params["name"])
    body = await read_limited_body(request, context.settings.max_request_bytes)
    keys = _keys(table, parse_body(body, LookupInput))
    values = await _online(context.online_store.read, table, keys, time.time())
    return OrjsonResponse({"rows": values})


@accepts(LookupInput)
async def history(request: Request) -> Response:
    """Every row ever upserted for the given keys, oldest first: for training sets."""
    context = _context(request, writes=False)
    table = await run_in_threadpool(context.feature_tables.get, request.path_params["name"])
    body = await read_limited_body(request, context.settings.max_request_bytes)
    keys = _keys(table, parse_body(body, LookupInput))
    return OrjsonResponse(
        {"rows": await run_in_threadpool(context.feature_history.read, table, keys)}
    )


def _keys(table: FeatureTable, given: LookupInput) -> list[tuple[Any, ...]]:
    keys = []
    for position, item in enumerate(given.keys):
        try:
            keys.append(key_of(table, item))
        except InvalidParameterValue as error:
            raise InvalidParameterValue(f"keys[{position}]: {error.message}") from None
    return keys


routes = [
    Route(BASE, create_table, methods=["POST"]),
    Route(BASE, list_tables, methods=["GET"]),
    Route(BASE + "/{name}", get_table, methods=["GET"]),
    Route(BASE + "/{name}", delete_table, methods=["DELETE"]),
    Route(BASE + "/{name}/rows", upsert_rows, methods=["POST"]),
    Route(BASE + "/{name}/lookup", lookup, methods=["POST"]),
    Route(BASE + "/{name}/history", history, methods=["POST"]),
]
