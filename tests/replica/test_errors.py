"""Bad requests get a 4xx with an ``{"error_code", "message"}`` body, never a 500, and never
take the replica down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.replica.conftest import SMALL_LIMIT_BYTES, SMALL_LIMIT_ROWS, Registry, ReplicaProcess

JSON = {"content-type": "application/json"}


def assert_error(response: httpx.Response, status: int, *phrases: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"]
    for phrase in phrases:
        assert phrase in body["message"], body["message"]
    assert "Unexpected error" not in body["message"]
    return body


@pytest.fixture()
def sklearn(replicas: dict[str, ReplicaProcess]) -> httpx.Client:
    return replicas["sklearn"].client


@pytest.fixture()
def records(registry: Registry) -> list[dict[str, Any]]:
    return registry.models["sklearn"].sample.head(5).to_dict(orient="records")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"dataframe_records": [', b"\xff\xfe{}", b"null"],
    ids=["malformed", "truncated", "invalid-utf8", "null"],
)
def test_unparseable_json(sklearn: httpx.Client, body: bytes) -> None:
    assert_error(sklearn.post("/invocations", content=body, headers=JSON), 400)


def test_json_list(sklearn: httpx.Client, records: list[dict[str, Any]]) -> None:
    assert_error(sklearn.post("/invocations", json=records), 400, "JSON object")


def test_no_input_field(sklearn: httpx.Client) -> None:
    body = assert_error(sklearn.post("/invocations", json={"rows": []}), 400, "dataframe_split")
    assert body["error_code"] == "BAD_REQUEST"


def test_two_input_fields(sklearn: httpx.Client, records: list[dict[str, Any]]) -> None:
    response = sklearn.post("/invocations", json={"instances": records, "inputs": records})
    body = assert_error(response, 400, "instances", "inputs")
    assert body["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; format=pandas-split",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
    ],
)
def test_unsupported_content_types(sklearn: httpx.Client, content_type: str) -> None:
    response = sklearn.post(
        "/invocations", content=b'{"inputs": []}', headers={"content-type": content_type}
    )
    assert_error(response, 415)


def test_missing_column_is_named(sklearn: httpx.Client, records: list[dict[str, Any]]) -> None:
    for row in records:
        del row["mean radius"]
    response = sklearn.post("/invocations", json={"dataframe_records": records})
    assert_error(response, 400, "mean radius")


@pytest.mark.parametrize("field", ["dataframe_records", "instances"])
def test_wrong_type_names_column_and_type(
    sklearn: httpx.Client, records: list[dict[str, Any]], field: str
) -> None:
    records[0]["mean radius"] = "abc"
    response = sklearn.post("/invocations", json={field: records})
    body = assert_error(response, 400, "mean radius", "abc")
    assert "float" in body["message"] or "double" in body["message"]


def test_wrong_type_in_csv(sklearn: httpx.Client, registry: Registry) -> None:
    sample = registry.models["sklearn"].sample.head(3).astype(object)
    sample.loc[1, "mean texture"] = "abc"
    response = sklearn.post(
        "/invocations", content=sample.to_csv(index=False), headers={"content-type": "text/csv"}
    )
    assert_error(response, 400, "mean texture")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"   ", "application/json"),
        (b"", "text/csv"),
        (b'{"dataframe_records": []}', "application/json"),
        (b'{"instances": []}', "application/json"),
        (b'{"inputs": {}}', "application/json"),
        (b'{"dataframe_split": {"columns": ["mean radius"], "data": []}}', "application/json"),
        (b'{"columns": ["mean radius"], "data": []}', "application/json"),
    ],
)
def test_empty_input(sklearn: httpx.Client, content: bytes, content_type: str) -> None:
    response = sklearn.post("/invocations", content=content, headers={"content-type": content_type})
    assert_error(response, 400)


def test_model_failure_is_a_bad_request(
    replicas: dict[str, ReplicaProcess], registry: Registry
) -> None:
    sample = registry.models["custom"].sample.head(3).copy()
    sample.loc[0, "mean radius"] = -1.0
    response = replicas["custom"].client.post(
        "/invocations", json={"dataframe_split": sample.to_dict(orient="split")}
    )
    body = assert_error(response, 400, "predict", "ValueError", "mean radius must not be negative")
    assert body["error_code"] == "BAD_REQUEST"


def test_invalid_params(replicas: dict[str, ReplicaProcess], registry: Registry) -> None:
    sample = registry.models["custom"].sample.head(3)
    for params in ({"multiplier": "lots"}, [1, 2]):
        response = replicas["custom"].client.post(
            "/invocations",
            json={"dataframe_split": sample.to_dict(orient="split"), "params": params},
        )
        assert_error(response, 400)


def test_unknown_routes_answer_json(sklearn: httpx.Client) -> None:
    assert_error(sklearn.get("/nowhere"), 404)
    assert_error(sklearn.get("/invocations"), 405)


def test_body_over_the_limit(replicas: dict[str, ReplicaProcess], registry: Registry) -> None:
    client = replicas["small"].client
    small = registry.models["custom"].sample.head(2)
    assert client.post("/invocations", json={"inputs": small.to_dict(orient="list")}).is_success
    large = registry.models["sklearn"].sample
    response = client.post("/invocations", json={"inputs": large.to_dict(orient="list")})
    assert int(response.request.headers["content-length"]) > SMALL_LIMIT_BYTES
    assert_error(response, 413, str(SMALL_LIMIT_BYTES))

    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": {"mean radius": ['
        for _ in range(200):
            yield b"1.0, "
        yield b"1.0]}"

    chunked = client.post("/invocations", content=chunks(), headers=JSON)
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413)


def test_too_many_rows(replicas: dict[str, ReplicaProcess], registry: Registry) -> None:
    client = replicas["small"].client
    rows = registry.models["custom"].sample.head(SMALL_LIMIT_ROWS + 1)
    response = client.post("/invocations", json={"inputs": rows.to_dict(orient="list")})
    assert_error(response, 400, f"{SMALL_LIMIT_ROWS + 1} rows", f"limit is {SMALL_LIMIT_ROWS}")
    ok = rows.head(SMALL_LIMIT_ROWS)
    assert client.post("/invocations", json={"inputs": ok.to_dict(orient="list")}).is_success


def test_json_nested_too_deep(replicas: dict[str, ReplicaProcess]) -> None:
    deep = b'{"inputs": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    response = replicas["sklearn"].client.post("/invocations", content=deep, headers=JSON)
    assert_error(response, 400, "levels deep")


def test_still_serving_after_bad_requests(replicas: dict[str, ReplicaProcess]) -> None:
    for replica in replicas.values():
        assert replica.process.poll() is None
        assert replica.client.get("/ping").status_code == 200
