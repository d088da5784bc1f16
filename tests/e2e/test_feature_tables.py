"""Feature tables through the REST API, the Python client and the CLI, on both online stores
(the embedded SQLite one and Redis on 127.0.0.1:6379 under a key prefix of this test's own)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from servegate.client import ServegateClient, ServegateClientError
from tests.e2e.conftest import gateway_with_online_store
from tests.e2e.gateway_process import GatewayProcess
from tests.ports import free_port

BASE = "/api/2.0/feature-tables"
SCHEMA = {"customer_id": "long", "spend_30d": "double", "orders": "integer", "segment": "string"}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp(f"features-{request.param}")
    with gateway_with_online_store(request.param, home) as process:
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[ServegateClient]:
    with_client = ServegateClient(gateway.url, gateway.token)
    yield with_client
    with_client.close()


def cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servegate", "features", *args]
        + ["--url", gateway.url, "--token", gateway.token],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_define_fill_read_and_delete(
    gateway: GatewayProcess, client: ServegateClient, tmp_path: Path
) -> None:
    table = client.create_feature_table(
        "customer_spend", ["customer_id"], SCHEMA, ttl_seconds=86400, description="30-day spend"
    )
    assert table["features"] == ["spend_30d", "orders", "segment"]
    assert table["ttl_seconds"] == 86400 and table["creator"]
    assert [t["name"] for t in client.feature_tables()] == ["customer_spend"]

    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "spend_30d": [10.5, 0.0, None],
            "orders": [3, 0, 1],
            "segment": ["gold", "new", "silver"],
        }
    )
    assert client.upsert_features("customer_spend", frame) == {"rows": 3, "keys": 3, "stored": 3}
    csv = tmp_path / "more.csv"
    csv.write_text("customer_id,spend_30d,orders,segment\n2,99.0,7,gold\n4,1.25,1,new\n")
    done = cli(gateway, "upsert", "customer_spend", str(csv))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Upserted 2 rows" in done.stdout
    parquet = tmp_path / "more.parquet"
    pd.DataFrame(
        {"customer_id": [5], "spend_30d": [5.0], "orders": [5], "segment": ["x"]}
    ).to_parquet(parquet)
    assert client.upsert_features("customer_spend", parquet)["stored"] == 1

    rows = client.read_features(
        "customer_spend",
        [{"customer_id": 2}, {"customer_id": 3}, {"customer_id": 404}, {"customer_id": "5"}],
    )
    assert rows == [
        {"spend_30d": 99.0, "orders": 7, "segment": "gold"},
        {"spend_30d": None, "orders": 1, "segment": "silver"},
        None,
        {"spend_30d": 5.0, "orders": 5, "segment": "x"},
    ]
    shown = cli(gateway, "read", "customer_spend", '[{"customer_id": 4}]')
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == [{"spend_30d": 1.25, "orders": 1, "segment": "new"}]
    listed = cli(gateway, "list")
    assert listed.returncode == 0 and "customer_spend" in listed.stdout

    client.delete_feature_table("customer_spend")
    with pytest.raises(ServegateClientError) as gone:
        client.read_features("customer_spend", [{"customer_id": 2}])
    assert gone.value.status_code == 404
    client.create_feature_table("customer_spend", ["customer_id"], SCHEMA)
    assert client.read_features("customer_spend", [{"customer_id": 2}]) == [None], (
        "a table made again starts empty"
    )
    client.delete_feature_table("customer_spend")


def test_bad_requests_get_clear_errors(gateway: GatewayProcess, client: ServegateClient) -> None:
    client.create_feature_table("strict", ["customer_id"], SCHEMA)

    def refused(method: str, path: str, status: int, fragment: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        answer = gateway.api(method, path, **kwargs)
        assert answer.status_code == status, answer.text
        assert fragment in answer.json()["message"], answer.json()

    refused(
        "POST",
        BASE,
        409,
        "already exists",
        json={
            "name": "strict",
            "primary_keys": ["customer_id"],
            "schema": [{"name": "customer_id", "type": "long"}, {"name": "v", "type": "double"}],
        },
    )
    refused(
        "POST",
        BASE,
        400,
        "type 'decimal'",
        json={
            "name": "t2",
            "primary_keys": ["k"],
            "schema": [{"name": "k", "type": "long"}, {"name": "v", "type": "decimal"}],
        },
    )
    refused("POST", BASE, 400, "primary_keys", json={"name": "t3", "schema": []})
    refused(
        "POST",
        f"{BASE}/strict/rows",
        400,
        "lack column(s) segment",
        json={"dataframe_records": [{"customer_id": 1, "spend_30d": 1.0, "orders": 1}]},
    )
    refused(
        "POST",
        f"{BASE}/strict/rows",
        400,
        "'orders' is integer",
        json={
            "dataframe_records": [
                {"customer_id": 1, "spend_30d": 1.0, "orders": "many", "segment": "a"}
            ]
        },
    )
    csv = {**gateway.headers, "Content-Type": "text/csv"}
    refused("POST", f"{BASE}/strict/rows", 400, "as text/csv", data=b'"a\n', headers=csv)
    refused(
        "POST",
        f"{BASE}/strict/lookup",
        400,
        "keys[1]: key column 'customer_id' is long",
        json={"keys": [{"customer_id": 1}, {"customer_id": "abc"}]},
    )
    refused(
        "POST", f"{BASE}/strict/lookup", 400, "'customer_id' is missing", json={"keys": [{"id": 1}]}
    )
    refused("POST", f"{BASE}/nope/lookup", 404, "'nope' does not exist", json={"keys": []})
    refused("DELETE", f"{BASE}/nope", 404, "does not exist")

    gateway.create_user("reader@example.com")
    token, _ = gateway.token_for("reader@example.com")
    reader = {"Authorization": f"Bearer {token}"}
    refused(
        "POST",
        BASE,
        403,
        "create and change feature tables",
        headers=reader,
        json={
            "name": "mine",
            "primary_keys": ["k"],
            "schema": [{"name": "k", "type": "long"}, {"name": "v", "type": "double"}],
        },
    )
    looked = gateway.api(
        "POST", f"{BASE}/strict/lookup", headers=reader, json={"keys": [{"customer_id": 1}]}
    )
    assert looked.status_code == 200 and looked.json() == {"rows": [None]}
    assert gateway.api("GET", "/health").status_code == 200
    client.delete_feature_table("strict")


def test_an_unreachable_online_store_is_a_503_and_the_gateway_carries_on(
    tmp_path: Path,
) -> None:
    gateway = GatewayProcess(
        tmp_path / "home", args=["--online-store", f"redis://127.0.0.1:{free_port()}/0"]
    ).start()
    try:
        client = ServegateClient(gateway.url, gateway.token)
        client.create_feature_table("t", ["customer_id"], SCHEMA)
        answer = gateway.api(
            "POST",
            f"{BASE}/t/rows",
            json={
                "dataframe_records": [
                    {"customer_id": 1, "spend_30d": 1.0, "orders": 1, "segment": "a"}
                ]
            },
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "online store is unreachable" in answer.json()["message"]
        assert answer.headers["Retry-After"]
        lookup = gateway.api("POST", f"{BASE}/t/lookup", json={"keys": [{"customer_id": 1}]})
        assert lookup.status_code == 503
        assert gateway.api("GET", "/health").status_code == 200
        assert client.feature_table("t")["name"] == "t"
        client.close()
    finally:
        gateway.stop()
