"""Registered models: the registry's models with their versions, stages and aliases, and
per-model serving (the legacy MLflow Model Serving API) switched on and off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servegate.errors import ServegateError
from servegate.registry.browse import model_summaries, model_summary
from servegate.registry.versions import RegistryClient
from servegate.ui.api_client import ApiClient, ApiError, api_for
from servegate.ui.render import fragment, page
from servegate.ui.views import serving_badge

LEGACY = "/api/2.0/mlflow/endpoints"
T = TypeVar("T")


@dataclass
class ModelServing:
    """What per-model serving of one model does now: ``None`` state when it is off."""

    name: str
    state: str | None = None
    message: str = ""
    versions: list[dict[str, Any]] = field(default_factory=list)
    references: list[tuple[str, str]] = field(default_factory=list)  # (Production | @a, version)
    error: str | None = None  # why the switch did not move, shown beside it

    @property
    def enabled(self) -> bool:
        return self.state is not None

    @property
    def default_version(self) -> str | None:
        """What ``/model/NAME/invocations`` serves: Production if any, else the newest."""
        production = dict(self.references).get("Production")
        newest = max((v["endpoint_version_name"] for v in self.versions), key=int, default=None)
        return production or newest

    @property
    def settled(self) -> bool:
        return not self.enabled or serving_badge(self.state).settled


async def _read(call: Callable[[RegistryClient, str], T], request: Request, text: str) -> T:
    """A registry read for a page: its refusal shown as the API's would be."""
    try:
        return await run_in_threadpool(call, request.app.state.context.registry, text)
    except ServegateError as error:
        raise ApiError(error.status_code, error.error_code, error.message) from None


async def _serving(api: ApiClient, name: str) -> ModelServing:
    query = {"registered_model_name": name}
    try:
        status = (await api.get(f"{LEGACY}/get-status", **query))["endpoint_status"]
    except ApiError as error:
        if error.error_code == "INVALID_PARAMETER_VALUE":  # serving is not enabled
            return ModelServing(name)
        raise
    versions = (await api.get(f"{LEGACY}/list-versions", **query))["endpoint_versions"]
    aliases = (await api.get(f"{LEGACY}/list-version-aliases", **query))["aliases"]
    references = sorted(
        ((a["alias"], a["endpoint_version_name"]) for a in aliases),
        key=lambda ref: (ref[0].startswith("@"), ref[0]),
    )
    return ModelServing(name, status["state"], status["state_message"], versions, references)


async def model_list(request: Request) -> Response:
    api = api_for(request)
    text = request.query_params.get("q", "").strip()
    models = await _read(model_summaries, request, text)
    served = {e["registered_model_name"]: e for e in (await api.get(f"{LEGACY}/list"))["endpoints"]}
    context = {"models": models, "served": served, "q": text, "serving_badge": serving_badge}
    if request.headers.get("hx-request"):  # the search box asks for the results alone
        return fragment(request, "_model_results.html", **context)
    return await page(request, api, "models.html", nav="models", **context)


async def model_detail(request: Request) -> Response:
    api = api_for(request)
    name = request.path_params["name"]
    model = await _read(model_summary, request, name)
    return await page(
        request,
        api,
        "model.html",
        nav="models",
        model=model,
        serving=await _serving(api, name),
        serving_badge=serving_badge,
    )


async def serving_state(request: Request) -> Response:
    """The serving panel alone: htmx polls it until every version is ready or failed."""
    serving = await _serving(api_for(request), request.path_params["name"])
    return fragment(request, "_model_serving.html", serving=serving, serving_badge=serving_badge)


async def switch_serving(request: Request) -> Response:
    """Turn per-model serving on or off, then show the panel (with the API's refusal)."""
    api = api_for(request)
    name = request.path_params["name"]
    turn_on = (await request.form()).get("enabled") == "true"
    body = {"registered_model_name": name}
    problem = None
    try:
        await api.send("POST", f"{LEGACY}/{'enable' if turn_on else 'disable'}", body)
    except ApiError as error:
        problem = error.message
    serving = await _serving(api, name)
    serving.error = problem
    return fragment(request, "_model_serving.html", serving=serving, serving_badge=serving_badge)
