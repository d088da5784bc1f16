"""A replica alone speaks the Open Inference Protocol for its model (KServe-style server)."""

from __future__ import annotations

import numpy as np

from tests.replica.conftest import Registry, ReplicaProcess
from tests.replica.test_scoring import local_model


def test_a_replica_answers_v2_health_metadata_and_inference(
    registry: Registry, replicas: dict[str, ReplicaProcess]
) -> None:
    client = replicas["custom"].client
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/risk/ready").json() == {"name": "risk", "ready": True}
    described = client.get("/v2/models/risk/versions/7").json()
    assert described["name"] == "risk" and described["versions"] == ["7"]
    assert [t["name"] for t in described["inputs"]] == ["mean radius", "mean texture"]

    sample = registry.models["custom"].sample.head(5)
    body = {
        "id": "q-1",
        "inputs": [
            {"name": column, "shape": [5], "datatype": "FP64", "data": sample[column].tolist()}
            for column in sample.columns
        ],
        "parameters": {"multiplier": 2.0},
    }
    answer = client.post("/v2/models/risk/infer", json=body, headers={"x-request-id": "req-oip"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "req-oip"
    score, flag = answer.json()["outputs"]
    expected = local_model(registry.models["custom"].uri).predict(
        sample, params={"multiplier": 2.0}
    )
    assert (score["name"], score["datatype"], score["shape"]) == ("score", "FP64", [5])
    assert np.allclose(score["data"], expected["score"])
    assert (flag["name"], flag["datatype"]) == ("flag", "BOOL")
    assert flag["data"] == expected["flag"].tolist()
    assert answer.json()["id"] == "q-1" and "model_version" not in answer.json()

    broken = {**body, "inputs": [{**body["inputs"][0], "data": [-1.0] * 5}, body["inputs"][1]]}
    failed = client.post("/v2/models/risk/infer", json=broken)
    assert failed.status_code == 400 and "predict failed" in failed.json()["error"]
    wrong = client.post("/v2/models/risk/infer", json={"inputs": [body["inputs"][0]]})
    assert wrong.status_code == 400 and "'mean texture'" in wrong.json()["error"]
