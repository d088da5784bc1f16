"""The Databricks serving-endpoints control plane: ``/api/2.0/serving-endpoints``."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.models.signature import ModelSignature
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from servegate.api.endpoint_openapi import endpoint_document
from servegate.api.openapi import accepts
from servegate.api.serving_schemas import (
    AiGatewayInput,
    CreateEndpointInput,
    EndpointConfigInput,
    PatchTagsInput,
    RateLimitsInput,
    parse_body,
)
from servegate.api.serving_views import (
    endpoint_detailed,
    endpoint_summary,
    event_body,
    shown_config,
    tags_body,
)
from servegate.endpoint_config import (
    FEATURE_SPEC_VERSION,
    EndpointConfig,
    validate_endpoint_name,
)
from servegate.errors import InvalidParameterValue, ResourceDoesNotExist
from servegate.features.spec import check_lookups, lookups_of
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse
from servegate.inference_tables import InferenceTable, RecordQuery, check_one_table
from servegate.observability import metrics
from servegate.observability.full_disk import FULL_NOTE, disk_full
from servegate.observability.logs import endpoint_group, follow, tail
from servegate.store.models import SERVING_ENDPOINT, ConfigRow, EndpointRow
from servegate.store.principals import CREATE_ENDPOINTS

BASE = "/api/2.0/serving-endpoints"
LOG_TAIL_BYTES = 256 * 1024
MAX_EVENTS = 10_000
MAX_RECORDS = 10_000
MAX_TIME_MS = 253_402_300_799_999  # the end of year 9999


def _context(request: Request) -> GatewayContext:
    return request.app.state.context


def _json(body: object) -> Response:
    return OrjsonResponse(body)


def _detailed(context: GatewayContext, endpoint: EndpointRow, level: str) -> Response:
    return _json(endpoint_detailed(endpoint, level, context.capture.status(endpoint.id)))


def _configs(endpoint: EndpointRow) -> list[ConfigRow]:
    """The endpoint's config serving now and the one it is moving to, if any."""
    versions = (endpoint.active_version, endpoint.pending_version)
    return [config for config in endpoint.configs if config.version in versions]


def _serving_capture(endpoint: EndpointRow) -> InferenceTable | None:
    """The ``auto_capture_config`` of the config serving now (else of the one on its way)."""
    config = shown_config(endpoint)
    return InferenceTable.from_stored(config.auto_capture) if config else None


async def _check_references(context: GatewayContext, config: EndpointConfig) -> None:
    """Every model version and secret the config names exists (400 otherwise)."""
    tables = None
    for entity in config.served_entities:
        if entity.entity_version == FEATURE_SPEC_VERSION:
            await _check_feature_spec(context, entity.name, entity.entity_name)
            continue
        version = await run_in_threadpool(
            context.registry.resolve, entity.entity_name, entity.entity_version
        )
        spec = await run_in_threadpool(context.registry.feature_spec, entity.entity_name, version)
        if spec is not None:
            if tables is None:
                tables = {t.name: t for t in await run_in_threadpool(context.feature_tables.list)}
            try:
                check_lookups(lookups_of(spec), tables)
            except InvalidParameterValue as error:
                raise InvalidParameterValue(
                    f"Served model '{entity.name}' ({entity.entity_name} version {version}): "
                    f"{error.message}"
                ) from None
        await run_in_threadpool(
            context.secrets.check_references,
            entity.environment_vars,
            f"served model '{entity.name}'",
        )


async def _check_feature_spec(context: GatewayContext, served: str, name: str) -> None:
    """A served entity without a version serves the feature spec ``name``: it must exist."""
    try:
        await run_in_threadpool(context.feature_specs.get, name)
    except ResourceDoesNotExist:
        raise InvalidParameterValue(
            f"Served entity '{served}' has no entity_version and no feature spec is named "
            f"'{name}': give a model version, or create the feature spec first."
        ) from None


async def _authorized(request: Request, needed: str) -> tuple[EndpointRow, str]:
    """The endpoint named in the path, if the caller holds ``needed`` on it (403 otherwise)."""
    context = _context(request)
    name = request.path_params["name"]
    endpoint = await run_in_threadpool(context.endpoints.get, name)
    level = context.access.require(
        caller_of(request), SERVING_ENDPOINT, endpoint.id, needed, f"endpoint '{name}'"
    )
    return endpoint, level


@accepts(CreateEndpointInput)
async def create_endpoint(request: Request) -> Response:
    context = _context(request)
    caller = caller_of(request)
    context.access.require_entitlement(caller, CREATE_ENDPOINTS, "create serving endpoints")
    body = parse_body(await request.body(), CreateEndpointInput)
    name = validate_endpoint_name(body.name)
    config = body.to_config()
    ai_gateway = body.ai_gateway_settings()
    check_one_table(config.auto_capture, ai_gateway)
    await _check_references(context, config)
    endpoint = await run_in_threadpool(
        context.endpoints.create,
        name,
        caller.name,
        caller.id,
        config,
        body.description,
        {tag.key: tag.value for tag in body.tags},
        ai_gateway,
    )
    await run_in_threadpool(context.access.refresh)
    context.role.wake(reread_registry=True)
    return _detailed(context, endpoint, "CAN_MANAGE")


async def list_endpoints(request: Request) -> Response:
    context = _context(request)
    caller = caller_of(request)
    endpoints = await run_in_threadpool(context.endpoints.list)
    visible = [
        endpoint
        for endpoint in endpoints
        if context.access.level(caller, SERVING_ENDPOINT, endpoint.id) is not None
    ]
    return _json({"endpoints": [endpoint_summary(endpoint) for endpoint in visible]})


async def get_endpoint(request: Request) -> Response:
    endpoint, level = await _authorized(request, "CAN_VIEW")
    return _detailed(_context(request), endpoint, level)


async def delete_endpoint(request: Request) -> Response:
    context = _context(request)
    await _authorized(request, "CAN_MANAGE")
    await run_in_threadpool(context.endpoints.delete, request.path_params["name"])
    await run_in_threadpool(context.access.refresh)
    context.role.wake()
    return _json({})


@accepts(EndpointConfigInput)
async def update_config(request: Request) -> Response:
    context = _context(request)
    endpoint, _ = await _authorized(request, "CAN_MANAGE")
    body = parse_body(await request.body(), EndpointConfigInput)
    config = body.to_config(endpoint.name, _serving_capture(endpoint))
    check_one_table(config.auto_capture, endpoint.ai_gateway)
    await _check_references(context, config)
    caller = caller_of(request)
    endpoint = await run_in_threadpool(
        context.endpoints.update_config, endpoint.name, caller.name, config
    )
    context.role.wake(reread_registry=True)
    return _detailed(context, endpoint, "CAN_MANAGE")


@accepts(PatchTagsInput)
async def patch_tags(request: Request) -> Response:
    await _authorized(request, "CAN_MANAGE")
    body = parse_body(await request.body(), PatchTagsInput)
    tags = await run_in_threadpool(
        _context(request).endpoints.patch_tags,
        request.path_params["name"],
        {tag.key: tag.value for tag in body.add_tags},
        body.delete_tags,
    )
    return _json({"tags": tags_body(tags)})


@accepts(RateLimitsInput)
async def put_rate_limits(request: Request) -> Response:
    """The deprecated per-endpoint rate limits; kept in the endpoint's AI gateway settings."""
    endpoint, _ = await _authorized(request, "CAN_MANAGE")
    limits = parse_body(await request.body(), RateLimitsInput).checked()
    settings = {**(endpoint.ai_gateway or {}), "rate_limits": limits}
    await run_in_threadpool(_context(request).endpoints.set_ai_gateway, endpoint.name, settings)
    _context(request).role.wake()
    return _json({"rate_limits": limits})


@accepts(AiGatewayInput)
async def put_ai_gateway(request: Request) -> Response:
    endpoint, _ = await _authorized(request, "CAN_MANAGE")
    previous = (endpoint.ai_gateway or {}).get("inference_table_config")
    settings = parse_body(await request.body(), AiGatewayInput).to_stored(
        endpoint.name, InferenceTable.from_stored(previous)
    )
    for config in _configs(endpoint):
        check_one_table(InferenceTable.from_stored(config.auto_capture), settings)
    await run_in_threadpool(_context(request).endpoints.set_ai_gateway, endpoint.name, settings)
    _context(request).role.wake()
    return _json(settings or {})


async def _served_log(request: Request, build: bool) -> Response:
    """``{"logs": ...}``: the newest lines; with ``?follow=true`` (a servegate extension) a
    plain-text stream of them and then of each line as it is written, until the client goes."""
    context = _context(request)
    endpoint, _ = await _authorized(request, "CAN_MANAGE")
    name, served = endpoint.name, request.path_params["served"]
    known = {entity.name for config in endpoint.configs for entity in config.entities}
    if served not in known:
        raise ResourceDoesNotExist(f"Served model '{served}' does not exist in endpoint '{name}'.")
    group = endpoint_group(name)
    path = (
        context.log_paths.build_log(group, served)
        if build
        else context.log_paths.log(group, served)
    )
    if _flag(request, "follow"):
        return StreamingResponse(follow(path, LOG_TAIL_BYTES), media_type="text/plain")
    text = (await run_in_threadpool(tail, path, LOG_TAIL_BYTES)).decode(errors="replace")
    if await run_in_threadpool(disk_full, path):
        separator = "" if not text or text.endswith("\n") else "\n"
        text += f"{separator}servegate: {FULL_NOTE}\n"
    return _json({"logs": text})


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidParameterValue(f"{name} must be true or false, not {value!r}.")
    return value == "true"


async def served_model_logs(request: Request) -> Response:
    return await _served_log(request, build=False)


async def served_model_build_logs(request: Request) -> Response:
    return await _served_log(request, build=True)


async def endpoint_openapi(request: Request) -> Response:
    """How to query this endpoint: an OpenAPI document of its request bodies, from the
    signatures of the models it serves."""
    context = _context(request)
    endpoint, _ = await _authorized(request, "CAN_VIEW")
    config = shown_config(endpoint)
    signatures: dict[str, ModelSignature | None] = {}
    for entity in config.entities if config else []:
        if entity.entity_version == FEATURE_SPEC_VERSION:  # a feature spec: no signature
            signatures[entity.name] = None
            continue
        version = entity.resolved_version or await run_in_threadpool(
            context.registry.resolve, entity.entity_name, entity.entity_version
        )
        model = await run_in_threadpool(context.registry.mlmodel, entity.entity_name, version)
        signatures[entity.name] = model.signature
    routes = config.routes if config else []
    traffic = {route["served_entity_name"]: route["traffic_percentage"] for route in routes}
    return _json(endpoint_document(endpoint.name, signatures, traffic))


async def endpoint_events(request: Request) -> Response:
    """The endpoint's history (config updates, replica exits, scaling), oldest first."""
    endpoint, _ = await _authorized(request, "CAN_VIEW")
    limit = request.query_params.get("limit", "1000")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_EVENTS:
        raise InvalidParameterValue(f"limit must be an integer from 1 to {MAX_EVENTS}.")
    rows = await run_in_threadpool(_context(request).endpoint_events.list, endpoint.id, int(limit))
    return _json({"events": [event_body(row) for row in rows]})


def _record_query(params: Mapping[str, str]) -> RecordQuery:
    unknown = set(params) - {"limit", "since_ms", "until_ms", "served_model", "order"}
    if unknown:
        raise InvalidParameterValue(
            f"Unknown query parameter {sorted(unknown)[0]!r}: use limit, since_ms, until_ms, "
            "served_model, order."
        )
    limit = params.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_RECORDS:
        raise InvalidParameterValue(f"limit must be an integer from 1 to {MAX_RECORDS}.")
    times = {}
    for bound in ("since_ms", "until_ms"):
        value = params.get(bound)
        if value is not None and (not value.isdigit() or int(value) > MAX_TIME_MS):
            raise InvalidParameterValue(f"{bound} must be a time in milliseconds since 1970.")
        times[bound] = int(value) if value is not None else None
    order = params.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise InvalidParameterValue(f"order must be 'newest' or 'oldest', not {order!r}.")
    return RecordQuery(int(limit), served_model=params.get("served_model"), order=order, **times)


async def inference_records(request: Request) -> Response:
    """The endpoint's inference table (payloads are sensitive: CAN_MANAGE only)."""
    context = _context(request)
    endpoint, _ = await _authorized(request, "CAN_MANAGE")
    query = _record_query(request.query_params)
    await context.capture.flush()  # what this process holds, so a client reads its own requests
    records = await run_in_threadpool(context.capture.sink.read, endpoint.id, endpoint.name, query)
    return _json({"records": records})


async def endpoint_metrics(request: Request) -> Response:
    """This endpoint's metrics alone, in the OpenMetrics text format."""
    endpoint, _ = await _authorized(request, "CAN_VIEW")
    body = await run_in_threadpool(metrics.exposition, endpoint.name)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def well_known_config(request: Request) -> Response:
    return JSONResponse({})


routes = [
    Route(BASE, create_endpoint, methods=["POST"]),
    Route(BASE, list_endpoints, methods=["GET"]),
    # MLflow's Databricks deployments client asks with a trailing slash
    Route(BASE + "/", create_endpoint, methods=["POST"]),
    Route(BASE + "/", list_endpoints, methods=["GET"]),
    Route(BASE + "/{name}", get_endpoint, methods=["GET"]),
    Route(BASE + "/{name}", delete_endpoint, methods=["DELETE"]),
    Route(BASE + "/{name}/config", update_config, methods=["PUT"]),
    Route(BASE + "/{name}/tags", patch_tags, methods=["PATCH"]),
    Route(BASE + "/{name}/rate-limits", put_rate_limits, methods=["PUT"]),
    Route(BASE + "/{name}/ai-gateway", put_ai_gateway, methods=["PUT"]),
    Route(BASE + "/{name}/events", endpoint_events, methods=["GET"]),
    Route(BASE + "/{name}/openapi", endpoint_openapi, methods=["GET"]),
    Route(BASE + "/{name}/metrics", endpoint_metrics, methods=["GET"]),
    Route(BASE + "/{name}/inference-records", inference_records, methods=["GET"]),
    Route(BASE + "/{name}/served-models/{served}/logs", served_model_logs, methods=["GET"]),
    Route(
        BASE + "/{name}/served-models/{served}/build-logs",
        served_model_build_logs,
        methods=["GET"],
    ),
    Route("/.well-known/databricks-config", well_known_config, methods=["GET"]),
]
