"""The web UI's routes: ``/`` and ``/ui/...`` for servegate, ``/mlflow/...`` for MLflow's UI."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from servegate.ui import create, endpoints, features, models, permissions, query, sign_in
from servegate.ui.api_client import ApiError
from servegate.ui.metrics_sample import endpoint_sample
from servegate.ui.passthrough import SessionPassthrough

STATIC = Path(__file__).parent / "static"


async def home(request: Request) -> Response:
    return RedirectResponse("/ui/", 307)


async def not_found(request: Request) -> Response:
    """Any other ``/ui/`` path: a page saying so, not MLflow's answer."""
    raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"There is no page at {request.url.path}.")


async def mlflow_home(request: Request) -> Response:
    return RedirectResponse("/mlflow/", 307)


def ui_routes(mlflow_server: ASGIApp | None) -> list[BaseRoute]:
    """``mlflow_server``: the embedded MLflow server with the gateway's auth and audit in
    front, served under ``/mlflow/``; ``None`` with an external registry."""
    one = "/endpoints/{name}"
    model = "/models/{name}"
    table = "/features/tables/{name}"
    mlflow: list[BaseRoute] = []
    if mlflow_server is not None:
        mlflow = [
            Route("/mlflow", mlflow_home, methods=["GET"]),
            Mount("/mlflow", app=SessionPassthrough("/mlflow", mlflow_server)),
        ]
    return [
        Route("/", home, methods=["GET"]),
        Route("/ui", home, methods=["GET"]),
        *mlflow,
        Mount(
            "/ui",
            routes=[
                Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
                Mount("/rest", app=SessionPassthrough("/ui/rest")),
                Route("/sign-in", sign_in.sign_in_form, methods=["GET"]),
                Route("/sign-in", sign_in.sign_in, methods=["POST"]),
                Route("/sign-out", sign_in.sign_out, methods=["POST"]),
                Route("/", endpoints.endpoint_list, methods=["GET"]),
                Route("/endpoints/new", create.new_endpoint, methods=["GET"]),
                Route("/endpoints/new", create.submit, methods=["POST"]),
                Route(one + "/edit", create.edit_endpoint, methods=["GET"]),
                Route(one + "/edit", create.submit, methods=["POST"]),
                Route("/registry/model-options", create.model_options, methods=["GET"]),
                Route("/registry/version-options", create.version_options, methods=["GET"]),
                Route("/models", models.model_list, methods=["GET"]),
                Route(model, models.model_detail, methods=["GET"]),
                Route(model + "/serving", models.serving_state, methods=["GET"]),
                Route(model + "/serving", models.switch_serving, methods=["POST"]),
                Route("/features", features.feature_list, methods=["GET"]),
                Route(table, features.feature_table, methods=["GET"]),
                Route(table + "/lookup", features.lookup, methods=["POST"]),
                Route(one, endpoints.endpoint_overview, methods=["GET"]),
                Route(one + "/state", endpoints.endpoint_state, methods=["GET"]),
                Route(one + "/events", endpoints.endpoint_events, methods=["GET"]),
                Route(one + "/logs", endpoints.endpoint_logs, methods=["GET"]),
                Route(one + "/permissions", permissions.endpoint_permissions, methods=["GET"]),
                Route(one + "/permissions", permissions.change_permissions, methods=["POST"]),
                Route(one + "/query", query.query_page, methods=["GET"]),
                Route(one + "/example", query.query_example, methods=["GET"]),
                Route(one + "/snippets", query.code_snippets, methods=["POST"]),
                Route(one + "/metrics.json", endpoint_sample, methods=["GET"]),
                Route(one + "/delete", endpoints.delete_endpoint, methods=["POST"]),
                Route("/{rest:path}", not_found),
            ],
        ),
    ]
