"""``/openapi.json`` describes the API that answers, and each endpoint's ``/openapi`` describes
the bodies its models take."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import requests
from databricks.sdk import WorkspaceClient
from openapi_spec_validator import validate

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess

BASE = "/api/2.0/serving-endpoints"


def test_the_control_plane_document_is_valid_and_every_path_answers(
    gateway: GatewayProcess,
) -> None:
    answer = requests.get(f"{gateway.url}/openapi.json", timeout=30)  # no token needed
    assert answer.status_code == 200
    document = answer.json()
    validate(document)
    paths = document["paths"]
    create = paths[BASE]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateEndpointInput"
    }
    created_schema = document["components"]["schemas"]["CreateEndpointInput"]
    assert "name" in created_schema["required"]
    assert paths[BASE + "/{name}/config"]["put"]["parameters"][0]["name"] == "name"
    for expected in (
        "/serving-endpoints/{name}/invocations",
        "/v2/models/{model}/infer",
        "/api/2.0/mlflow/endpoints/enable",
        "/api/2.0/feature-tables/{name}/lookup",
        BASE + "/{name}/openapi",
    ):
        assert expected in paths, expected
    assert paths["/health"]["get"]["security"] == []

    # nothing listed is unrouted: each answers something other than "no route"
    for path, operations in paths.items():
        concrete = re.sub(r"{[^}]+}", "no-such-thing", path)
        for method in operations:
            reply = requests.request(
                method.upper(), gateway.url + concrete, headers=gateway.headers, json={},
                timeout=30,
            )  # fmt: skip
            assert reply.status_code != 405, (method, path)
            if reply.status_code == 404:
                assert "No route" not in reply.text, (method, path, reply.text)


@pytest.fixture(scope="module")
def described(gateway: GatewayProcess, sklearn_versions: list[Registered]) -> dict:
    v1, v2 = sklearn_versions
    gateway.create(
        "described",
        [v1.entity("a"), v2.entity("b")],
        [
            {"served_model_name": "a", "traffic_percentage": 70},
            {"served_model_name": "b", "traffic_percentage": 30},
        ],
    )
    answer = gateway.api("GET", f"{BASE}/described/openapi")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_endpoint_document_describes_its_models_bodies(
    gateway: GatewayProcess, sklearn_versions: list[Registered], described: dict
) -> None:
    validate(described)
    v1, _ = sklearn_versions
    paths = described["paths"]
    assert set(paths) == {
        "/serving-endpoints/described/invocations",
        "/serving-endpoints/described/served-models/a/invocations",
        "/serving-endpoints/described/served-models/b/invocations",
    }
    operation = paths["/serving-endpoints/described/invocations"]["post"]
    assert "a 70%, b 30%" in operation["summary"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    records = next(s for s in schema["oneOf"] if "dataframe_records" in s["required"])
    row = records["properties"]["dataframe_records"]["items"]
    assert row["properties"]["mean radius"] == {"type": "number", "format": "double"}
    assert set(row["required"]) == set(v1.sample.columns)

    body = {"dataframe_records": json.loads(v1.sample.head(2).to_json(orient="records"))}
    jsonschema.validate(body, schema)
    served = gateway.api("POST", "/serving-endpoints/described/invocations", json=body)
    assert served.status_code == 200
    missing = {"dataframe_records": [{"mean radius": 1.0}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing, schema)
    assert (
        gateway.api("POST", "/serving-endpoints/described/invocations", json=missing).status_code
        == 400
    )


def test_the_databricks_sdk_reads_an_endpoint_document(
    gateway: GatewayProcess, described: dict
) -> None:
    workspace = WorkspaceClient(host=gateway.url, token=gateway.token, auth_type="pat")
    read = workspace.serving_endpoints.get_open_api(name="described")
    assert json.loads(read.contents.read()) == described
    unknown = gateway.api("GET", f"{BASE}/nothing-here/openapi")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
