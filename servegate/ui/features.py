"""Feature tables and specs: what is defined, each table's columns, and a key looked up."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servegate.ui.api_client import ApiError, api_for
from servegate.ui.render import fragment, page

TABLES = "/api/2.0/feature-tables"
SPECS = "/api/2.0/feature-specs"


async def feature_list(request: Request) -> Response:
    api = api_for(request)
    tables, specs = await asyncio.gather(api.get(TABLES), api.get(SPECS))
    return await page(
        request,
        api,
        "features.html",
        nav="features",
        tables=sorted(tables["feature_tables"], key=lambda t: t["name"]),
        specs=sorted(specs["feature_specs"], key=lambda s: s["name"]),
    )


async def feature_table(request: Request) -> Response:
    api = api_for(request)
    table = await api.get(f"{TABLES}/{request.path_params['name']}")
    return await page(request, api, "feature_table.html", nav="features", table=table, keys={})


async def lookup(request: Request) -> Response:
    """One key's features, or the API's refusal next to the key column it names."""
    api = api_for(request)
    table = await api.get(f"{TABLES}/{request.path_params['name']}")
    form = await request.form()
    keys = {column: str(form.get(f"key-{column}", "")).strip() for column in table["primary_keys"]}
    context: dict[str, Any] = {"table": table, "keys": keys, "errors": {}, "row": None}
    for column, value in keys.items():
        if not value:
            context["errors"][column] = f"Give a value of {column}."
    if not context["errors"]:
        try:
            answer = await api.send("POST", f"{TABLES}/{table['name']}/lookup", {"keys": [keys]})
        except ApiError as error:
            named = [c for c in keys if f"'{c}'" in error.message]
            context["errors"][named[0] if named else "general"] = error.message
        else:
            context["row"] = answer["rows"][0]
            context["looked_up"] = True
    status = 422 if context["errors"] else 200
    return fragment(request, "_feature_lookup.html", status, **context)
