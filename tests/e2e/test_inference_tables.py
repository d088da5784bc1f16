"""Inference tables in the store's database, on real SQLite and real PostgreSQL: each request
an endpoint answers is one record, read through the API, the Python client and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy

from servegate.client import ServegateClient
from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.inference import (
    BASE,
    CAPTURE,
    Sent,
    assert_one_to_one,
    bad_body,
    good_body,
    metric,
    payload_table,
    read_records,
    send,
    wait_for_records,
    wait_for_status,
)
from tests.postgres import fresh_postgres_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, str]]:
    """A gateway on a store of each kind, and the store's URL."""
    home = tmp_path_factory.mktemp(f"inference-{request.param}")
    if request.param == "sqlite":
        gateway = GatewayProcess(home).start()
        yield gateway, f"sqlite:///{home / 'servegate.db'}"
        gateway.stop()
        return
    with fresh_postgres_database() as url:
        gateway = GatewayProcess(home, args=["--store", url]).start()
        yield gateway, url
        gateway.stop()


@pytest.fixture(scope="module")
def versions(store_gateway: tuple[GatewayProcess, str]) -> list[Registered]:
    gateway, _ = store_gateway
    return [
        register_into(gateway, lambda: models.register_sklearn("captured-logreg", c=1.0)),
        register_into(gateway, lambda: models.register_sklearn("captured-logreg", c=0.01)),
    ]


@pytest.fixture(scope="module")
def querier(store_gateway: tuple[GatewayProcess, str]) -> str:
    """A token of a user who may query the endpoint, and no more."""
    gateway, _ = store_gateway
    gateway.create_user("querier@example.com")
    return gateway.token_for("querier@example.com")[0]


@pytest.fixture(scope="module")
def captured(
    store_gateway: tuple[GatewayProcess, str], versions: list[Registered], querier: str
) -> str:
    """An endpoint of two served models, 50/50, capturing into its inference table."""
    gateway, _ = store_gateway
    config = {
        "served_entities": [versions[0].entity("a"), versions[1].entity("b")],
        "traffic_config": {
            "routes": [
                {"served_entity_name": "a", "traffic_percentage": 50},
                {"served_entity_name": "b", "traffic_percentage": 50},
            ]
        },
        "auto_capture_config": CAPTURE,
    }
    created = gateway.api("POST", BASE, json={"name": "captured", "config": config})
    assert created.status_code == 200, created.text
    endpoint = gateway.wait_for("captured")
    granted = gateway.api(
        "PATCH",
        f"/api/2.0/permissions/serving-endpoints/{endpoint['id']}",
        json={
            "access_control_list": [
                {"user_name": "querier@example.com", "permission_level": "CAN_QUERY"}
            ]
        },
    )
    assert granted.status_code == 200, granted.text
    return "captured"


def serving(versions: list[Registered]) -> dict[str | None, tuple]:
    return {
        "a": ("captured-logreg", versions[0].version),
        "b": ("captured-logreg", versions[1].version),
        None: (None, None),
    }


def send_mix(
    gateway: GatewayProcess, model: Registered, querier: str, count: int, start: int = 0
) -> list[Sent]:
    """``count`` distinct requests: every fifth fails in the replica (400); some carry an
    ``x-request-id`` or a ``client_request_id``; half are sent by the querier."""
    sent = []
    for i in range(start, start + count):
        extra = {"client_request_id": f"client-{i}"} if i % 4 == 1 else {}
        body = bad_body(i) if i % 5 == 4 else good_body(model, i, **extra)
        caller = {"token": querier, "requester": "querier@example.com"} if i % 2 else {}
        request_id = f"req-{i}" if i % 3 == 0 else None
        sent.append(send(gateway, "captured", body, request_id=request_id, **caller))
    return sent


def test_each_request_is_one_record(
    store_gateway: tuple[GatewayProcess, str],
    versions: list[Registered],
    captured: str,
    querier: str,
) -> None:
    gateway, _ = store_gateway
    started_ms = int(time.time() * 1000)
    sent = send_mix(gateway, versions[0], querier, 40)
    statuses = [s.status for s in sent]
    assert statuses.count(400) == 8 and statuses.count(200) == 32, statuses
    assert {s.served for s in sent} == {"a", "b"}, "both served models answered"
    # One served model by name; one unknown (a 404 the gateway answers itself).
    sent.append(
        send(
            gateway,
            "",
            good_body(versions[0], 41),
            path=f"/serving-endpoints/{captured}/served-models/b/invocations",
        )
    )
    unknown = send(
        gateway,
        "",
        good_body(versions[0], 42),
        path=f"/serving-endpoints/{captured}/served-models/nope/invocations",
        request_id="unknown-served",
    )
    assert unknown.status == 404

    records = wait_for_records(gateway, captured, len(sent) + 1)
    [refused] = [r for r in records if r["request_id"] == "unknown-served"]
    assert refused["status_code"] == 404 and refused["served_model_name"] is None
    assert json.loads(refused["response"])["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    records.remove(refused)
    assert_one_to_one(records, sent, serving(versions))
    assert all(r["endpoint_name"] == captured for r in records)
    assert all(started_ms <= r["timestamp_ms"] <= time.time() * 1000 for r in records)
    assert metric(gateway, "servegate_inference_records_written_total", endpoint=captured) == 42

    table = payload_table(gateway, captured)
    assert table["name"] == "main.serving.captured_payload", "the prefix defaults to the name"
    assert table["status"] == "ACTIVE", table
    assert "store's database" in table["status_message"]
    shown = gateway.api("GET", f"{BASE}/{captured}").json()["config"]["auto_capture_config"]
    assert shown["table_name_prefix"] == captured and shown["enabled"] is True


def test_reading_the_table(
    store_gateway: tuple[GatewayProcess, str], captured: str, querier: str
) -> None:
    gateway, _ = store_gateway
    everything = read_records(gateway, captured, limit=10_000)
    newest = read_records(gateway, captured, limit=5)
    assert newest == everything[:5]
    stamps = [r["timestamp_ms"] for r in everything]
    assert stamps == sorted(stamps, reverse=True), "newest first by default"
    oldest = read_records(gateway, captured, limit=3, order="oldest")
    assert [r["timestamp_ms"] for r in oldest] == sorted(stamps)[:3]
    only_a = read_records(gateway, captured, limit=10_000, served_model="a")
    assert only_a and {r["served_model_name"] for r in only_a} == {"a"}
    assert len(only_a) == sum(r["served_model_name"] == "a" for r in everything)
    middle = sorted(stamps)[len(stamps) // 2]
    since = read_records(gateway, captured, limit=10_000, since_ms=middle)
    assert {r["request_id"] for r in since} == {
        r["request_id"] for r in everything if r["timestamp_ms"] >= middle
    }
    until = read_records(gateway, captured, limit=10_000, until_ms=middle)
    assert len(until) + len(since) == len(everything)

    path = f"{BASE}/{captured}/inference-records"
    for params in (
        {"limit": 0},
        {"limit": "ten"},
        {"limit": 10_001},
        {"since_ms": "yesterday"},
        {"order": "sideways"},
        {"colour": "blue"},
    ):
        refused = gateway.api("GET", path, params=params)
        assert refused.status_code == 400, params
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE", refused.text
    missing = gateway.api("GET", f"{BASE}/no-such-endpoint/inference-records")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    querying = gateway.api("GET", path, headers={"Authorization": f"Bearer {querier}"})
    assert querying.status_code == 403, "payloads are for CAN_MANAGE only"
    assert querying.json()["error_code"] == "PERMISSION_DENIED"

    client = ServegateClient(gateway.url, gateway.token)
    try:
        frame = client.inference_table(captured)
        assert len(frame) == len(everything)
        assert set(frame["request_id"]) == {r["request_id"] for r in everything}
        assert str(frame["timestamp"].dtype).startswith("datetime64")
        assert client.inference_records(captured, 2, order="oldest") == oldest[:2]
    finally:
        client.close()

    as_json = cli(gateway, captured, "--json", "--limit", "3")
    assert json.loads(as_json) == newest[:3]
    as_table = cli(gateway, captured)
    assert newest[0]["request_id"] in as_table and "served model" in as_table


def cli(gateway: GatewayProcess, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "servegate", "inference", *args, "--url", gateway.url],
        env={**os.environ, "SERVEGATE_TOKEN": gateway.token, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_a_missing_table_keeps_serving_and_says_so(
    store_gateway: tuple[GatewayProcess, str],
    versions: list[Registered],
    captured: str,
    querier: str,
) -> None:
    """The store's table goes away (renamed): requests still succeed, GET says the writes
    fail, the metric counts them; once the table is back, writing resumes by itself."""
    gateway, url = store_gateway
    before = len(read_records(gateway, captured, limit=10_000))
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE inference_records RENAME TO records_away")
        sent = send_mix(gateway, versions[0], querier, 10, start=100)
        assert all(s.status in (200, 400) for s in sent)
        failing = wait_for_status(gateway, captured, "FAILING")
        assert "inference_records" in failing["status_message"], failing
        assert metric(gateway, "servegate_inference_write_errors_total", endpoint=captured) >= 1
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE records_away RENAME TO inference_records")
        engine.dispose()
    later = send_mix(gateway, versions[0], querier, 10, start=200)
    assert all(s.status in (200, 400) for s in later)
    wait_for_status(gateway, captured, "ACTIVE")
    records = wait_for_records(gateway, captured, before + 20)
    dropped = metric(
        gateway,
        "servegate_inference_records_dropped_total",
        endpoint=captured,
        reason="write_failed",
    )
    assert len(records) + dropped == before + 20, "every request is written or counted as lost"
    bodies = {r["request"] for r in records}
    assert all(s.body.decode() in bodies for s in later), "written again once the table is back"
