"""Create an endpoint, or edit one's config, with the form; and the registry choices it offers."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servegate.errors import ServegateError
from servegate.registry.browse import search_models, version_choices
from servegate.ui.api_client import ApiError, api_for
from servegate.ui.endpoint_form import WORKLOAD_SIZES, EndpointForm
from servegate.ui.endpoints import BASE
from servegate.ui.render import fragment, page


def _context(form: EndpointForm, editing: str | None) -> dict[str, object]:
    return {"form": form, "editing": editing, "sizes": WORKLOAD_SIZES, "nav": "endpoints"}


async def new_endpoint(request: Request) -> Response:
    """The empty form, or one serving ``?model=NAME&version=V`` (from the models page)."""
    api = api_for(request)
    form = EndpointForm.serving(
        request.query_params.get("model", ""), request.query_params.get("version", "")
    )
    return await page(request, api, "endpoint_form.html", **_context(form, None))


async def edit_endpoint(request: Request) -> Response:
    api = api_for(request)
    endpoint = await api.get(f"{BASE}/{request.path_params['name']}")
    form = EndpointForm.from_endpoint(endpoint)
    return await page(request, api, "endpoint_form.html", **_context(form, endpoint["name"]))


async def submit(request: Request) -> Response:
    """Add or remove a served model row, or send the config to the API."""
    api = api_for(request)
    editing = request.path_params.get("name")
    data = await request.form()
    form = EndpointForm.from_form(data)
    if editing:
        form.name = editing
    action = str(data.get("action", "save"))
    if action == "add":
        form.add_row()
    elif action.startswith("remove-") and action[7:].isdigit():
        form.remove_row(int(action[7:]))
    elif (config := form.config()) is not None:
        try:
            if editing:
                await api.send("PUT", f"{BASE}/{editing}/config", config)
            else:
                await api.send("POST", BASE, {"name": form.name, "config": config})
        except ApiError as error:
            form.place(error.error_code, error.message)
        else:
            return Response(status_code=204, headers={"HX-Redirect": f"/ui/endpoints/{form.name}"})
    status = 422 if form.errors else 200
    return fragment(request, "_endpoint_form.html", status, **_context(form, editing))


async def model_options(request: Request) -> Response:
    """``<option>``s of registered models matching what a row's model field holds."""
    api = api_for(request)
    await api.me()  # the registry is open to anyone signed in, as MLflow's API is
    row = request.query_params.get("row", "0")
    text = request.query_params.get(f"model-{row}", "")
    names = await run_in_threadpool(search_models, request.app.state.context.registry, text)
    return fragment(request, "_model_options.html", names=names)


async def version_options(request: Request) -> Response:
    """``<option>``s of the versions, stages and aliases of a row's model."""
    api = api_for(request)
    await api.me()
    row = request.query_params.get("row", "0")
    model = request.query_params.get(f"model-{row}", "").strip()
    choices, problem = [], None
    if model:
        try:
            choices = await run_in_threadpool(
                version_choices, request.app.state.context.registry, model
            )
        except ServegateError as error:
            problem = error.message
    selected = request.query_params.get("selected", "")
    return fragment(
        request, "_version_options.html", choices=choices, problem=problem, selected=selected
    )
