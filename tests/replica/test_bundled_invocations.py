"""A bundle of invocations, as the gateway sends a replica several requests in one exchange:
each request of it is answered exactly as it is answered alone, and what is not a bundle gets
a 4xx in the API's error format, with the replica unharmed."""

from __future__ import annotations

from typing import Any

import httpx
import msgpack
import pandas as pd
import pytest

from servegate import invocation_bundles as bundles
from tests.replica.conftest import SMALL_LIMIT_BYTES, Registry, ReplicaProcess
from tests.replica.test_errors import assert_error

BUNDLE = {"content-type": bundles.CONTENT_TYPE}


def _bundled(client: httpx.Client, requests: list[tuple[dict[str, str], bytes]]) -> list[Any]:
    response = client.post(bundles.PATH, content=bundles.pack_requests(requests), headers=BUNDLE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == bundles.CONTENT_TYPE
    reader = bundles.AnswerReader(len(requests))
    answers = dict(reader.feed(response.content))
    assert not reader.unanswered
    return [answers[index] for index in range(len(requests))]


def _alone(client: httpx.Client, headers: dict[str, str], body: bytes) -> httpx.Response:
    return client.post("/invocations", content=body, headers=headers)


def _requests(sample: pd.DataFrame) -> list[tuple[dict[str, str], bytes]]:
    split = sample.head(3).to_json(orient="split", index=False).encode()
    records = sample.head(2).to_json(orient="records").encode()
    json = "application/json"
    return [
        ({"content-type": json, "x-request-id": "split"}, b'{"dataframe_split": %s}' % split),
        ({"content-type": json, "x-request-id": "records"}, b'{"dataframe_records": %s}' % records),
        (
            {"content-type": "text/csv", "x-request-id": "csv"},
            sample.head(4).to_csv(index=False).encode(),
        ),
        ({"content-type": json, "x-request-id": "malformed"}, b"{not json"),
        ({"content-type": json, "x-request-id": "empty"}, b""),
        ({"content-type": json, "x-request-id": "list"}, records),
        ({"content-type": "application/x-nothing", "x-request-id": "type"}, b"{}"),
    ]


@pytest.mark.parametrize("name", ["sklearn", "custom"])
def test_each_request_of_a_bundle_is_answered_as_it_is_alone(
    replicas: dict[str, ReplicaProcess], registry: Registry, name: str
) -> None:
    client = replicas[name].client
    requests = _requests(registry.models[name].sample)
    answers = _bundled(client, requests)
    statuses = []
    for (headers, body), answer in zip(requests, answers, strict=True):
        alone = _alone(client, headers, body)
        assert answer.status == alone.status_code, headers["x-request-id"]
        assert answer.headers["content-type"] == alone.headers["content-type"]
        assert answer.body == alone.content, headers["x-request-id"]
        assert answer.headers["x-request-id"] == headers["x-request-id"]
        statuses.append(answer.status)
    assert statuses == [200, 200, 200, 400, 400, 400, 415]


def test_a_bundled_request_keeps_the_replicas_limits(replicas: dict[str, ReplicaProcess]) -> None:
    client = replicas["small"].client
    json = {"content-type": "application/json"}
    rows = b'{"dataframe_records": [%s]}' % b", ".join([b'{"a": 1}'] * 4)
    big = b'{"dataframe_records": [{"a": "%s"}]}' % (b"x" * SMALL_LIMIT_BYTES)
    requests = [(json, rows), (json, big)]
    answers = _bundled(client, requests)
    for (headers, body), answer in zip(requests, answers, strict=True):
        alone = _alone(client, headers, body)
        assert (answer.status, answer.body) == (alone.status_code, alone.content)
    assert [answer.status for answer in answers] == [400, 413]


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1 not msgpack",
        msgpack.packb({"headers": {}, "body": b"{}"}),
        msgpack.packb([]),
        msgpack.packb([[{}, "a string, not bytes"]]),
        msgpack.packb([[{"content-type": 1}, b"{}"]]),
        msgpack.packb([[{}, b"{}", "extra"]]),
        msgpack.packb([[{}, b"{}"]] * (bundles.MAX_REQUESTS + 1)),
        msgpack.packb([[{}, b"{}"]]) + b"trailing",
    ],
    ids=["garbage", "map", "empty", "str-body", "int-header", "triple", "too-many", "trailing"],
)
def test_what_is_not_a_bundle_is_a_bad_request(
    replicas: dict[str, ReplicaProcess], data: bytes
) -> None:
    client = replicas["sklearn"].client
    assert_error(client.post(bundles.PATH, content=data, headers=BUNDLE), 400, "bundle")
    assert client.get("/ping").status_code == 200


def test_a_bundle_past_its_size_limit_is_refused(replicas: dict[str, ReplicaProcess]) -> None:
    client = replicas["sklearn"].client
    data = b"\x00" * (bundles.MAX_BUNDLE_BYTES + 1)
    assert_error(client.post(bundles.PATH, content=data, headers=BUNDLE), 413, "exceeds")
    assert client.get("/ping").status_code == 200
