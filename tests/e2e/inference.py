"""Helpers for the inference table tests: sending distinct requests, reading the table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import orjson
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess

BASE = "/api/2.0/serving-endpoints"
CAPTURE = {"catalog_name": "main", "schema_name": "serving", "enabled": True}


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it."""

    body: bytes
    status: int
    response: str
    served: str | None
    request_id: str | None  # the x-request-id the client sent
    requester: str
    echoed: str | None  # the x-request-id the gateway answered with


def good_body(model: Registered, row: int, **extra: object) -> bytes:
    records = json.loads(model.sample.iloc[[row % len(model.sample)]].to_json(orient="records"))
    return orjson.dumps({"dataframe_records": records, **extra})


def bad_body(row: int) -> bytes:
    return orjson.dumps({"dataframe_records": [{"no such column": float(row)}]})


def send(
    gateway: GatewayProcess,
    endpoint: str,
    body: bytes,
    *,
    token: str | None = None,
    requester: str = "admin",
    request_id: str | None = None,
    path: str | None = None,
    close: bool = False,
) -> Sent:
    headers = {
        "Authorization": f"Bearer {token or gateway.token}",
        "Content-Type": "application/json",
    }
    if request_id:
        headers["x-request-id"] = request_id
    if close:  # a new connection each time, so requests spread over the workers
        headers["Connection"] = "close"
    answer = requests.post(
        f"{gateway.url}{path or f'/serving-endpoints/{endpoint}/invocations'}",
        data=body,
        headers=headers,
        timeout=60,
    )
    served = answer.headers.get("served-model-name")
    echoed = answer.headers.get("x-request-id")
    return Sent(body, answer.status_code, answer.text, served, request_id, requester, echoed)


def read_records(gateway: GatewayProcess, endpoint: str, **params: object) -> list[dict]:
    answer = gateway.api("GET", f"{BASE}/{endpoint}/inference-records", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["records"]


def wait_for_records(
    gateway: GatewayProcess, endpoint: str, count: int, timeout: float = 60
) -> list[dict]:
    """The endpoint's records once there are ``count`` of them (each gateway process writes
    its own, within a second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read_records(gateway, endpoint, limit=10_000)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def payload_table(gateway: GatewayProcess, endpoint: str) -> dict:
    """``state.payload_table`` of the endpoint's inference table, in either form."""
    body = gateway.api("GET", f"{BASE}/{endpoint}").json()
    table = body.get("config", {}).get("auto_capture_config")
    if table is None or not table["enabled"]:
        table = body.get("ai_gateway", {}).get("inference_table_config", table)
    return table["state"]["payload_table"]


def wait_for_status(
    gateway: GatewayProcess, endpoint: str, status: str, timeout: float = 60
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = payload_table(gateway, endpoint)
        if found["status"] == status:
            return found
        assert time.monotonic() < deadline, f"payload table stayed {found}"
        time.sleep(0.2)


def assert_one_to_one(records: list[dict], sent: list[Sent], models: dict[str, tuple]) -> None:
    """Every request sent is exactly one record, with what the client sent and got.

    Requests are matched by their body (each is distinct); ``models`` maps a served model to
    the (model name, version) it serves.
    """
    assert len({s.body for s in sent}) == len(sent), "the test sends distinct bodies"
    by_body = {record["request"]: record for record in records}
    assert len(records) == len(sent) == len(by_body), (len(records), len(sent))
    assert len({record["request_id"] for record in records}) == len(records)
    for request in sent:
        record = by_body[request.body.decode()]
        assert record["status_code"] == request.status
        assert record["response"] == request.response
        assert record["served_model_name"] == request.served
        assert (record["model_name"], record["model_version"]) == models[request.served]
        assert record["requester"] == request.requester
        assert record["execution_time_ms"] > 0
        assert record["request_id"] == request.echoed, "the id the client got back"
        if request.request_id is not None:
            assert record["request_id"] == request.request_id
        else:
            assert len(record["request_id"]) == 32, "128 random bits, as hex"
        client_id = json.loads(request.body).get("client_request_id")
        assert record["client_request_id"] == client_id


def metric(gateway: GatewayProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples that carry ``labels``, from ``/metrics``."""
    text = gateway.api("GET", "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
