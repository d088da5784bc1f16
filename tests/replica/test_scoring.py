"""A replica answers every request format exactly as the model itself predicts."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.replica.conftest import Registry, ReplicaProcess

ROWS = 50


@cache
def local_model(uri: str) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(uri)


def post_json(body: Any) -> dict[str, Any]:
    return {"json": body}


REQUEST_FORMATS: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    "dataframe_split": lambda df: post_json({"dataframe_split": df.to_dict(orient="split")}),
    "dataframe_records": lambda df: post_json({"dataframe_records": df.to_dict(orient="records")}),
    "instances": lambda df: post_json({"instances": df.to_dict(orient="records")}),
    "inputs": lambda df: post_json({"inputs": df.to_dict(orient="list")}),
    "bare_split": lambda df: post_json(df.to_dict(orient="split")),
    "csv": lambda df: {
        "content": df.to_csv(index=False).encode(),
        "headers": {"content-type": "text/csv"},
    },
    "parquet": lambda df: {
        "content": df.to_parquet(index=False),
        "headers": {"content-type": "application/vnd.apache.parquet"},
    },
}


def assert_same_predictions(answer: Any, expected: Any) -> None:
    """Compare JSON predictions with what the model's own predict returned."""
    if isinstance(expected, pd.DataFrame):
        got = pd.DataFrame.from_records(answer)
        pd.testing.assert_frame_equal(
            got, expected.reset_index(drop=True), check_dtype=False, atol=1e-9
        )
        return
    expected_array = np.asarray(expected)
    got_array = np.asarray(answer)
    assert got_array.shape == expected_array.shape
    if np.issubdtype(expected_array.dtype, np.floating):
        np.testing.assert_allclose(got_array, expected_array, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got_array, expected_array)


def predict(client: httpx.Client, request: dict[str, Any]) -> Any:
    response = client.post("/invocations", **request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["predictions"]


@pytest.mark.parametrize("model", ["sklearn", "custom", "xgboost"])
@pytest.mark.parametrize("request_format", list(REQUEST_FORMATS))
def test_predictions_match_the_model(
    registry: Registry,
    replicas: dict[str, ReplicaProcess],
    model: str,
    request_format: str,
) -> None:
    registered = registry.models[model]
    sample = registered.sample.head(ROWS)
    assert len(sample) == ROWS
    expected = local_model(registered.uri).predict(sample)
    answer = predict(replicas[model].client, REQUEST_FORMATS[request_format](sample))
    assert_same_predictions(answer, expected)


@pytest.mark.parametrize("request_format", ["dataframe_split", "dataframe_records", "inputs"])
def test_params_reach_the_model(
    registry: Registry, replicas: dict[str, ReplicaProcess], request_format: str
) -> None:
    registered = registry.models["custom"]
    sample = registered.sample
    request = REQUEST_FORMATS[request_format](sample)
    request["json"]["params"] = {"multiplier": 2.5}
    expected = local_model(registered.uri).predict(sample, params={"multiplier": 2.5})
    answer = predict(replicas["custom"].client, request)
    assert_same_predictions(answer, expected)
    plain = local_model(registered.uri).predict(sample)
    assert not np.allclose(pd.DataFrame(answer)["score"], plain["score"])


def test_params_ignored_by_models_without_a_params_schema(
    registry: Registry, replicas: dict[str, ReplicaProcess]
) -> None:
    registered = registry.models["sklearn"]
    request = REQUEST_FORMATS["dataframe_split"](registered.sample)
    request["json"]["params"] = {"multiplier": 2.5}
    answer = predict(replicas["sklearn"].client, request)
    assert_same_predictions(answer, local_model(registered.uri).predict(registered.sample))


def test_extra_columns_are_dropped(registry: Registry, replicas: dict[str, ReplicaProcess]) -> None:
    registered = registry.models["sklearn"]
    extended = registered.sample.assign(unrelated="x", other=1)
    answer = predict(replicas["sklearn"].client, REQUEST_FORMATS["dataframe_records"](extended))
    assert_same_predictions(answer, local_model(registered.uri).predict(registered.sample))


def test_charset_utf8_is_accepted(registry: Registry, replicas: dict[str, ReplicaProcess]) -> None:
    registered = registry.models["sklearn"]
    response = replicas["sklearn"].client.post(
        "/invocations",
        content=httpx.Request(
            "POST", "http://x", json={"dataframe_split": registered.sample.to_dict(orient="split")}
        ).content,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_concurrent_requests(registry: Registry, replicas: dict[str, ReplicaProcess]) -> None:
    """More requests than ``--concurrency`` queue and all get their own answer."""
    registered = registry.models["sklearn"]
    expected = local_model(registered.uri).predict(registered.sample)
    client = replicas["sklearn"].client

    def one(rows: int) -> None:
        answer = predict(client, REQUEST_FORMATS["dataframe_split"](registered.sample.head(rows)))
        assert_same_predictions(answer, expected[:rows])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(10, 50, 2)))


def test_nan_in_and_out(replicas: dict[str, ReplicaProcess]) -> None:
    """Python clients send NaN literals (``json.dumps``); a NaN prediction comes back null."""
    body = b'{"dataframe_records": [{"mean radius": NaN, "mean texture": 10.0}]}'
    response = replicas["custom"].client.post(
        "/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [{"score": None, "flag": False}]


@pytest.mark.parametrize("model", ["sklearn", "custom", "xgboost"])
def test_health_routes(replicas: dict[str, ReplicaProcess], model: str) -> None:
    client = replicas[model].client
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.text == "\n"
    version = client.get("/version")
    assert version.status_code == 200
    assert version.text == mlflow.__version__
