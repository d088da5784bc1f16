"""The Open Inference Protocol (KServe v2) through the gateway, with Triton's own HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_databricks_sdk import expected


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, list]]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("oip") / "home").start()
    one = register_into(gateway, lambda: models.register_sklearn("oip-logreg", c=1.0))
    two = register_into(gateway, lambda: models.register_sklearn("oip-logreg", c=0.01))
    gateway.create(
        "churn",
        [one.entity("one"), two.entity("two")],
        [
            {"served_model_name": "one", "traffic_percentage": 100},
            {"served_model_name": "two", "traffic_percentage": 0},
        ],
    )
    yield gateway, [one, two]
    gateway.stop()


def matrix(model: Registered, binary: bool) -> triton.InferInput:
    rows = model.sample.to_numpy()
    tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def test_tritonclient_reads_health_metadata_and_infers(
    served: tuple[GatewayProcess, list[Registered]],
) -> None:
    gateway, (one, two) = served
    client = triton.InferenceServerClient(url=f"127.0.0.1:{gateway.port}")
    auth = gateway.headers  # (tritonclient adds its own headers to this dict: copy it)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("churn", headers=dict(auth))
    assert client.is_model_ready("churn", "two", headers=dict(auth))
    assert not client.is_model_ready("churn", "three", headers=dict(auth))

    described = client.get_model_metadata("churn", headers=dict(auth))
    assert described["name"] == "churn" and described["versions"] == ["one", "two"]
    assert described["platform"] == "mlflow"
    columns = list(one.sample.columns)
    assert [t["name"] for t in described["inputs"]] == columns
    assert {t["datatype"] for t in described["inputs"]} == {"FP64"}
    pinned = client.get_model_metadata("churn", "two", headers=dict(auth))
    assert pinned["versions"] == ["two"]

    # JSON tensors, routed by traffic (all to "one")
    answer = client.infer(
        "churn", [matrix(one, binary=False)], headers=dict(auth), request_id="r-1"
    )
    assert np.allclose(answer.as_numpy("predictions"), expected(gateway, one))
    assert answer.get_response()["model_version"] == "one"
    assert answer.get_response()["id"] == "r-1"

    # the binary extension both ways, to a served model by version
    wanted = [triton.InferRequestedOutput("predictions", binary_data=True)]
    binary = client.infer("churn", [matrix(two, True)], "two", outputs=wanted, headers=dict(auth))
    assert np.allclose(binary.as_numpy("predictions"), expected(gateway, two))

    # one tensor per column, as the metadata describes
    per_column = []
    for column in columns:
        tensor = triton.InferInput(column, [len(one.sample)], "FP64")
        tensor.set_data_from_numpy(one.sample[column].to_numpy(), binary_data=False)
        per_column.append(tensor)
    answer = client.infer("churn", per_column, headers=dict(auth))
    assert np.allclose(answer.as_numpy("predictions"), expected(gateway, one))


def test_bad_requests_get_the_protocols_errors(
    served: tuple[GatewayProcess, list[Registered]],
) -> None:
    gateway, (one, _) = served
    client = triton.InferenceServerClient(url=f"127.0.0.1:{gateway.port}")
    auth = gateway.headers
    narrow = triton.InferInput("input-0", [2, 29], "FP64")
    narrow.set_data_from_numpy(np.zeros((2, 29)), binary_data=False)
    with pytest.raises(InferenceServerException, match=r"shape \[rows, 30\]"):
        client.infer("churn", [narrow], headers=dict(auth))
    with pytest.raises(InferenceServerException, match="does not exist"):
        client.infer("no-such-endpoint", [matrix(one, False)], headers=dict(auth))
    with pytest.raises(InferenceServerException, match="does not exist"):
        client.infer("churn", [matrix(one, False)], "three", headers=dict(auth))
    with pytest.raises(InferenceServerException, match=r"\[401\] Credential was not sent"):
        client.get_model_metadata("churn")

    raw = requests.post(
        f"{gateway.url}/v2/models/churn/infer", data=b"{not json", headers=dict(auth), timeout=30
    )
    assert raw.status_code == 400
    assert raw.json()["error"] == raw.json()["message"] and "not valid JSON" in raw.json()["error"]
    assert raw.headers["x-request-id"]
    server = requests.get(f"{gateway.url}/v2", headers=dict(auth), timeout=30).json()
    assert server["name"] == "servegate"
