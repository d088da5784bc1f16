"""Code that queries an endpoint as the query panel just did: curl, Python requests, and the
Databricks SDK. Each reads the token from ``DATABRICKS_TOKEN`` (never shown in a page)."""

from __future__ import annotations

import json
import pprint
import shlex
from dataclasses import dataclass
from typing import Any

TOKEN_VARIABLE = "DATABRICKS_TOKEN"
# databricks-sdk's serving_endpoints.query() takes these body fields as keyword arguments.
_SDK_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(frozen=True)
class Snippets:
    curl: str
    python: str
    sdk: str


def invocations_url(host: str, endpoint: str, served_model: str | None = None) -> str:
    base = f"{host.rstrip('/')}/serving-endpoints/{endpoint}"
    if served_model:
        return f"{base}/served-models/{served_model}/invocations"
    return f"{base}/invocations"


def snippets(host: str, endpoint: str, body: Any, served_model: str | None = None) -> Snippets:
    url = invocations_url(host, endpoint, served_model)
    return Snippets(_curl(url, body), _python(url, body), _sdk(host, endpoint, body, served_model))


def _curl(url: str, body: Any) -> str:
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        f'  -H "Authorization: Bearer ${TOKEN_VARIABLE}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body))}"
    )


def _assignment(name: str, value: Any) -> str:
    """``name = <Python literal of the JSON value>``, continuation lines aligned."""
    prefix = f"{name} = "
    text = pprint.pformat(value, width=88 - len(prefix), sort_dicts=False)
    return prefix + text.replace("\n", "\n" + " " * len(prefix)) + "\n"


def _python(url: str, body: Any) -> str:
    return (
        "import os\n\n"
        "import requests\n\n"
        f"{_assignment('payload', body)}"
        "response = requests.post(\n"
        f"    {url!r},\n"
        f'    headers={{"Authorization": f"Bearer {{os.environ[{TOKEN_VARIABLE!r}]}}"}},\n'
        "    json=payload,\n"
        "    timeout=60,\n"
        ")\n"
        "response.raise_for_status()\n"
        'print(response.headers.get("served-model-name"), response.json())\n'
    )


def _sdk(host: str, endpoint: str, body: Any, served_model: str | None) -> str:
    fields = body if isinstance(body, dict) else {}
    if isinstance(body, dict) and {"columns", "data"} <= body.keys():  # a bare split frame
        fields = {"dataframe_split": body}
    given = [field for field in _SDK_FIELDS if field in fields]
    if len(given) != 1:
        return (
            "# databricks-sdk's serving_endpoints.query() sends dataframe_split, "
            "dataframe_records,\n# instances or inputs: this body has none of them (use the "
            "requests snippet).\n"
        )
    field = given[0]
    imports = "from databricks.sdk import WorkspaceClient\n"
    if field == "dataframe_split":
        imports += "from databricks.sdk.service.serving import DataframeSplitInput\n"
        value = "DataframeSplitInput(**payload)"
    else:
        value = "payload"
    notes = ""
    if "params" in fields:
        notes += "# query() has no params argument: these are not sent (use requests for them).\n"
    if served_model:
        notes += (
            f"# query() asks the endpoint, which picks a served model by traffic; "
            f"only requests can ask {served_model} alone.\n"
        )
    return (
        "import os\n\n"
        f"{imports}\n"
        f"{notes}"
        f"{_assignment('payload', fields[field])}"
        f"w = WorkspaceClient(host={host.rstrip('/')!r}, token=os.environ[{TOKEN_VARIABLE!r}])\n"
        "response = w.serving_endpoints.query(\n"
        f"    name={endpoint!r},\n"
        f"    {field}={value},\n"
        ")\n"
        "print(response.predictions)\n"
    )
