"""The official databricks-sdk, pointed at servegate, does the whole endpoint lifecycle."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceConflict
from databricks.sdk.service.serving import (
    AiGatewayInferenceTableConfig,
    AutoCaptureConfigInput,
    DataframeSplitInput,
    EndpointCoreConfigInput,
    EndpointTag,
    Route,
    ServedEntityInput,
    TrafficConfig,
)

from tests.e2e.conftest import Registered, load_pyfunc
from tests.e2e.gateway_process import GatewayProcess


@pytest.fixture(scope="module")
def workspace(gateway: GatewayProcess) -> WorkspaceClient:
    return WorkspaceClient(host=gateway.url, token=gateway.token, auth_type="pat")


def served(model: Registered, name: str) -> ServedEntityInput:
    return ServedEntityInput(
        name=name,
        entity_name=model.name,
        entity_version=model.version,
        workload_size="Small",
        scale_to_zero_enabled=False,
    )


def expected(gateway: GatewayProcess, model: Registered) -> list:
    """The model's own predictions for its sample, loaded from the gateway's registry."""
    return list(np.asarray(load_pyfunc(gateway, model).predict(model.sample)))


def test_sdk_lifecycle(
    workspace: WorkspaceClient, gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, v2 = sklearn_versions
    sample = v1.sample
    endpoint = workspace.serving_endpoints.create_and_wait(
        name="sdk-endpoint",
        config=EndpointCoreConfigInput(name="sdk-endpoint", served_entities=[served(v1, "one")]),
        tags=[EndpointTag(key="owner", value="sdk")],
        timeout=timedelta(minutes=5),
    )
    assert endpoint.name == "sdk-endpoint"
    assert endpoint.state.config_update.value == "NOT_UPDATING"
    assert endpoint.state.ready.value == "READY"
    assert endpoint.config.served_entities[0].state.deployment.value == "DEPLOYMENT_READY"

    got = workspace.serving_endpoints.get("sdk-endpoint")
    assert got.id == endpoint.id and got.tags[0].key == "owner"
    assert "sdk-endpoint" in [e.name for e in workspace.serving_endpoints.list()]

    answer = workspace.serving_endpoints.query(
        name="sdk-endpoint",
        dataframe_split=DataframeSplitInput(
            columns=list(sample.columns), data=sample.values.tolist()
        ),
    )
    assert answer.served_model_name == "one"
    assert answer.predictions == expected(gateway, v1)

    updated = workspace.serving_endpoints.update_config_and_wait(
        name="sdk-endpoint",
        served_entities=[served(v1, "one"), served(v2, "two")],
        traffic_config=TrafficConfig(
            routes=[
                Route(served_model_name="one", traffic_percentage=0),
                Route(served_model_name="two", traffic_percentage=100),
            ]
        ),
        timeout=timedelta(minutes=5),
    )
    assert updated.config.config_version == 2
    assert {e.name for e in updated.config.served_entities} == {"one", "two"}
    answer = workspace.serving_endpoints.query(
        name="sdk-endpoint", dataframe_records=sample.to_dict(orient="records")
    )
    assert answer.served_model_name == "two"
    assert answer.predictions == expected(gateway, v2)

    tags = workspace.serving_endpoints.patch(
        name="sdk-endpoint",
        add_tags=[EndpointTag(key="stage", value="test")],
        delete_tags=["owner"],
    )
    assert [(t.key, t.value) for t in tags.tags] == [("stage", "test")]

    logs = workspace.serving_endpoints.logs(name="sdk-endpoint", served_model_name="two")
    assert isinstance(logs.logs, str)
    build = workspace.serving_endpoints.build_logs(name="sdk-endpoint", served_model_name="two")
    assert f"models:/{v2.name}/{v2.version}" in build.logs

    with pytest.raises(ResourceConflict):
        workspace.serving_endpoints.update_config(  # needs a new replica: takes seconds
            name="sdk-endpoint", served_entities=[served(v1, "three")]
        )
        workspace.serving_endpoints.update_config(
            name="sdk-endpoint", served_entities=[served(v2, "two")]
        )
    workspace.serving_endpoints.wait_get_serving_endpoint_not_updating(
        "sdk-endpoint", timeout=timedelta(minutes=5)
    )

    workspace.serving_endpoints.delete("sdk-endpoint")
    with pytest.raises(NotFound):
        workspace.serving_endpoints.get("sdk-endpoint")


def test_sdk_errors_are_typed(
    workspace: WorkspaceClient, sklearn_versions: list[Registered]
) -> None:
    with pytest.raises(NotFound):
        workspace.serving_endpoints.query(name="does-not-exist", dataframe_records=[{"a": 1}])
    with pytest.raises(InvalidParameterValue):
        workspace.serving_endpoints.create(
            name="sdk-bad",
            config=EndpointCoreConfigInput(
                name="sdk-bad",
                served_entities=[
                    ServedEntityInput(entity_name=sklearn_versions[0].name, entity_version="4242")
                ],
            ),
        )


def test_sdk_inference_table(
    workspace: WorkspaceClient, gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1 = sklearn_versions[0]
    capture = AutoCaptureConfigInput(catalog_name="main", schema_name="sdk", enabled=True)
    endpoint = workspace.serving_endpoints.create_and_wait(
        name="sdk-captured",
        config=EndpointCoreConfigInput(
            name="sdk-captured", served_entities=[served(v1, "one")], auto_capture_config=capture
        ),
        timeout=timedelta(minutes=5),
    )
    table = endpoint.config.auto_capture_config
    assert (table.catalog_name, table.table_name_prefix, table.enabled) == (
        "main",
        "sdk-captured",
        True,
    )
    assert table.state.payload_table.name == "main.sdk.sdk-captured_payload"
    assert table.state.payload_table.status == "ACTIVE"

    rows = v1.sample.head(1).to_dict(orient="records")
    answer = workspace.serving_endpoints.query(
        name="sdk-captured", dataframe_records=rows, client_request_id="sdk-1"
    )
    assert answer.served_model_name == "one"
    path = "/api/2.0/serving-endpoints/sdk-captured/inference-records"
    [record] = gateway.api("GET", path).json()["records"]
    assert (record["client_request_id"], record["status_code"]) == ("sdk-1", 200)

    with pytest.raises(InvalidParameterValue, match="cannot both be enabled"):
        workspace.serving_endpoints.put_ai_gateway(
            "sdk-captured",
            inference_table_config=AiGatewayInferenceTableConfig(
                catalog_name="main", schema_name="sdk", enabled=True
            ),
        )
    workspace.serving_endpoints.delete("sdk-captured")
