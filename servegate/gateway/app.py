"""Assembles the gateway: control plane, data plane, embedded registry, auth, reconciler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp

from servegate import ui
from servegate.api import audit as audit_api
from servegate.api import feature_specs as feature_specs_api
from servegate.api import feature_tables as feature_tables_api
from servegate.api import model_serving, permissions, scim, serving_endpoints
from servegate.api import secrets as secrets_api
from servegate.api import tokens as tokens_api
from servegate.api.openapi import openapi_document
from servegate.auth.access import AccessControl, Caller
from servegate.auth.admin import ensure_admin_token
from servegate.auth.middleware import AuthMiddleware
from servegate.auth.tokens import TokenStore, new_token
from servegate.errors import ServegateError, error_response
from servegate.features.online import open_online_store
from servegate.gateway import dataplane, model_dataplane, oip
from servegate.gateway.backend import make_backend, scaling_timings
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.hot_path import HotPath
from servegate.gateway.limits import HeaderLimitMiddleware
from servegate.gateway.rate_limits import LocalRateLimiter, SharedRateLimiter
from servegate.gateway.responses import OrjsonResponse
from servegate.gateway.role import GatewayRole
from servegate.gateway.routing import RoutingTable
from servegate.gateway.shared_routing import RoutingFollower
from servegate.observability import metrics
from servegate.observability.audit import AuditLog, AuditMiddleware
from servegate.observability.inference_capture import CaptureLimits, InferenceCapture
from servegate.observability.inference_parquet import ParquetInferenceRecords
from servegate.observability.logs import LogPaths
from servegate.reconciler.leadership import lease_for
from servegate.reconciler.loop import Reconciler
from servegate.registry.guard import RegistryGuard
from servegate.registry.versions import RegistryClient
from servegate.settings import Settings
from servegate.store.audit import AuditStore
from servegate.store.database import Database
from servegate.store.endpoint_events import EndpointEventStore
from servegate.store.endpoints import EndpointStore
from servegate.store.feature_history import FeatureHistoryStore
from servegate.store.feature_specs import FeatureSpecStore
from servegate.store.feature_tables import FeatureTableStore
from servegate.store.inference_records import InferenceRecordStore
from servegate.store.model_serving import ModelServingStore
from servegate.store.principals import PrincipalStore
from servegate.store.routing_snapshot import RoutingSnapshotStore
from servegate.store.secrets import SecretStore
from servegate.store.wake_requests import WakeRequestStore

logger = logging.getLogger(__name__)

# Replicas reach the embedded registry with a token that dies with this process.
SYSTEM_CALLER = Caller("system", "system", "service_principal", is_admin=True)
ACCESS_REFRESH_S = 2.0
_API_PREFIXES = (
    "/api/2.0/serving-endpoints",
    "/serving-endpoints",
    "/model/",
    "/api/2.0/mlflow/endpoints/",
    "/api/2.0/preview/mlflow/endpoints/",
    "/api/2.0/permissions/",
    "/api/2.0/token",
    "/api/2.0/preview/scim/",
    "/api/2.0/audit/",
    "/api/2.0/secrets/",
)


@dataclass
class Gateway:
    app: ASGIApp  # the full app behind the short way in for predictions
    context: GatewayContext
    admin_token: str
    admin_token_created: bool


async def health(request: Request) -> Response:
    return PlainTextResponse("OK\n")


async def prometheus_metrics(request: Request) -> Response:
    """Every endpoint's metrics, from every process (administrators: Prometheus scrapes with
    a token)."""
    context: GatewayContext = request.app.state.context
    context.access.require_admin(caller_of(request), "read every endpoint's metrics")
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def openapi_json(request: Request) -> Response:
    """This gateway's API as an OpenAPI document."""
    return OrjsonResponse(openapi_document(request.app.routes))


async def unknown_route(request: Request) -> Response:
    """JSON 404/405 for paths under servegate's own prefixes."""
    scope = dict(request.scope)
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(scope)[0] is Match.PARTIAL:
            raise HTTPException(405)
    raise HTTPException(404)


async def _servegate_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServegateError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = "ENDPOINT_NOT_FOUND" if error.status_code == 404 else "BAD_REQUEST"
    failure = ServegateError(f"No route for {request.method} {request.url.path}.")
    failure.status_code, failure.error_code = error.status_code, code
    return error_response(failure)


async def _client_gone(request: Request, error: Exception) -> Response:
    """The client hung up (or was cut off for a body too slow) while its body was read: no one
    is left to answer, and nothing went wrong here."""
    return Response(status_code=400)


async def refresh_access(access: AccessControl) -> None:
    """Pick up changes made by other gateways, and record when tokens were last used."""
    while True:
        await asyncio.sleep(ACCESS_REFRESH_S)
        try:
            await asyncio.to_thread(access.tokens.record_use, access.take_last_used())
            await asyncio.to_thread(access.refresh)
        except Exception:
            logger.exception("refreshing access control failed; retrying")


def inference_capture(settings: Settings, database: Database) -> InferenceCapture:
    sink = (
        ParquetInferenceRecords(settings.inference_path)
        if settings.inference_tables == "parquet"
        else InferenceRecordStore(database)
    )
    limits = CaptureLimits(
        settings.inference_queue_size,
        settings.inference_queue_bytes,
        settings.inference_max_payload_bytes,
        settings.inference_flush_s,
    )
    return InferenceCapture(sink, limits)


def build_gateway(settings: Settings) -> Gateway:
    settings.ensure_home()
    database = Database(settings.resolved_store_url)
    database.migrate()
    tokens = TokenStore(database)
    principals = PrincipalStore(database)
    admin_token, created = ensure_admin_token(settings, tokens)
    access = AccessControl(principals, tokens)
    access.refresh()
    system_token = settings.process_token or new_token()
    access.add_process_token(system_token, SYSTEM_CALLER)

    routing = RoutingTable()
    audit = AuditLog(AuditStore(database))
    registry_routes: list[BaseRoute] = []
    mlflow_ui: ASGIApp | None = None
    if settings.embedded_registry:
        from servegate.registry.embedded import create_embedded_mlflow_app, tracking_store_uri

        guarded = RegistryGuard(create_embedded_mlflow_app(settings.mlflow_dir), access, routing)
        registry_routes.append(Mount("/", guarded))
        mlflow_ui = AuditMiddleware(AuthMiddleware(guarded, access=access), audit=audit)
        registry = RegistryClient(
            tracking_store_uri(settings.mlflow_dir), settings.mlflow_dir / "artifacts"
        )
        replica_env = {
            "MLFLOW_TRACKING_URI": settings.local_url,
            "MLFLOW_TRACKING_TOKEN": system_token,
        }
        if settings.ssl_certfile:  # the gateway's own certificate is the one to trust
            replica_env["MLFLOW_TRACKING_SERVER_CERT_PATH"] = str(settings.ssl_certfile)
    else:
        assert settings.registry_uri is not None
        registry = RegistryClient(settings.registry_uri)
        replica_env = {"MLFLOW_TRACKING_URI": settings.registry_uri}

    replica_env["SERVEGATE_REPLICA_ONLINE_STORE"] = settings.online_store_url
    feature_tables = FeatureTableStore(database)
    feature_specs = FeatureSpecStore(database)
    log_paths = LogPaths(settings.logs_dir)
    secrets = SecretStore(database, settings.secrets_key_path)
    endpoints = EndpointStore(database)
    backend = make_backend(
        settings, replica_env, log_paths, secrets.resolve_environment, feature_tables, feature_specs
    )
    model_serving_store = ModelServingStore(database)
    shared_routing = RoutingSnapshotStore(database)
    endpoint_events = EndpointEventStore(database)
    wake_requests = WakeRequestStore(database)
    role = GatewayRole(
        lease_for(settings.resolved_store_url),
        lambda: Reconciler(
            endpoints,
            model_serving_store,
            registry.reader,
            backend,
            routing,
            shared_routing,
            endpoint_events,
            wake_requests,
            f"{socket.gethostname()}:{os.getpid()}",
            settings.reconcile_interval_s,
            settings.replica_request_timeout_s,
            settings.replica_slots,
            scaling_timings(settings),
        ),
        RoutingFollower(shared_routing, routing),
        routing,
        wake_requests,
        endpoints.mark_restarting,
    )
    context = GatewayContext(
        settings=settings,
        database=database,
        endpoints=endpoints,
        endpoint_events=endpoint_events,
        model_serving=model_serving_store,
        registry=registry,
        routing=routing,
        role=role,
        log_paths=log_paths,
        access=access,
        principals=principals,
        tokens=tokens,
        rate_limiter=SharedRateLimiter(database) if settings.shares_store else LocalRateLimiter(),
        audit=audit,
        secrets=secrets,
        feature_tables=feature_tables,
        feature_history=FeatureHistoryStore(database),
        feature_specs=feature_specs,
        online_store=open_online_store(settings.online_store_url, settings.online_store_prefix),
        capture=inference_capture(settings, database),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await role.begin()
        context.capture.start()
        tasks = [
            asyncio.create_task(role.run()),
            asyncio.create_task(refresh_access(access)),
            asyncio.create_task(audit.run()),
        ]
        # What is loaded by now (MLflow, SQLAlchemy, the app) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks its ~300k objects, which
        # held up every request for ~170 ms each time one ran.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await context.capture.close()  # every request has been answered: write them all
            await asyncio.to_thread(access.tokens.record_use, access.take_last_used())
            await role.shutdown()
            await backend.close()
            context.online_store.close()
            database.dispose()

    routes: list[BaseRoute] = [
        *dataplane.routes,  # first: the router tries routes in order, and these are the hot ones
        *model_dataplane.routes,
        *oip.routes,
        Route("/health", health, methods=["GET"]),
        Route("/ping", health, methods=["GET"]),
        Route("/metrics", prometheus_metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *serving_endpoints.routes,
        *feature_tables_api.routes,
        *feature_specs_api.routes,
        *model_serving.routes,
        *permissions.routes,
        *tokens_api.routes,
        *scim.routes,
        *audit_api.routes,
        *secrets_api.routes,
        *(
            Route(
                prefix + "{rest:path}",
                unknown_route,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
            for prefix in _API_PREFIXES
        ),
        *ui.ui_routes(mlflow_ui),
        *registry_routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(HeaderLimitMiddleware, max_header_bytes=settings.max_header_bytes),
            Middleware(AuditMiddleware, audit=audit),
            Middleware(AuthMiddleware, access=access),
        ],
        exception_handlers={
            ServegateError: _servegate_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            **ui.exception_handlers,
        },
        lifespan=lifespan,
    )
    app.state.context = context
    hot_path = HotPath(app, settings.max_header_bytes, access, audit)
    return Gateway(hot_path, context, admin_token, created)
