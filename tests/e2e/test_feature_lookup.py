"""Models that look features up at request time, through a real gateway and replica, on both
online stores; and an online store that goes away and comes back."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from servegate.client import ServegateClient
from servegate.features import FeatureLookup, FeatureSpec, build_training_set
from tests.e2e import special_models
from tests.e2e.conftest import gateway_with_online_store, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import single_replica
from tests.ports import free_port

BASE = "/api/2.0/serving-endpoints"
SCHEMA = {"customer_id": "long", "spend_30d": "double", "orders": "integer"}
SPEND = pd.DataFrame({"customer_id": [1, 2], "spend_30d": [9.0, 99.0], "orders": [3, 7]})


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp(f"lookup-{request.param}")
    with gateway_with_online_store(request.param, home) as process:
        client = ServegateClient(process.url, process.token)
        client.create_feature_table("customer_spend", ["customer_id"], SCHEMA)
        client.upsert_features("customer_spend", SPEND)
        client.close()
        yield process


def query(gateway: GatewayProcess, endpoint: str, rows: list[dict]) -> requests.Response:
    return gateway.api(
        "POST", f"/serving-endpoints/{endpoint}/invocations", json={"dataframe_records": rows}
    )


def test_features_are_looked_up_computed_and_overridden(gateway: GatewayProcess) -> None:
    model = register_into(gateway, lambda: special_models.register_feature_echo("echo"))
    gateway.create("echo", [model.entity("m")])
    answer = query(
        gateway,
        "echo",
        [
            {"customer_id": 1, "amount": 10.0},
            {"customer_id": 404, "amount": 5.0},
            {"customer_id": 2, "amount": 1.0, "spend_30d": 4.0},
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": ["9|3|1", "null|null|null", "4|7|0.2"]}

    build_log = gateway.api("GET", f"{BASE}/echo/served-models/m/build-logs").json()["logs"]
    assert "feature lookups: 2 from customer_spend; ratio computed" in build_log
    assert "fast path" not in build_log.split("feature lookups")[1]

    lacking = query(gateway, "echo", [{"amount": 1.0}])
    assert lacking.status_code == 400
    assert "lacks key column(s) customer_id" in lacking.json()["message"]
    wrong = query(gateway, "echo", [{"customer_id": "abc", "amount": 1.0}])
    assert wrong.status_code == 400
    assert "key column 'customer_id' is long" in wrong.json()["message"]


def test_a_feature_serving_endpoint_answers_features(gateway: GatewayProcess) -> None:
    client = ServegateClient(gateway.url, gateway.token)
    created = client.create_feature_spec("customer-features", special_models.feature_echo_spec())
    assert created["name"] == "customer-features"
    assert [s["name"] for s in client.feature_specs()] == ["customer-features"]
    gateway.create("features", [{"entity_name": "customer-features"}])
    entity = gateway.api("GET", f"{BASE}/features").json()["config"]["served_entities"][0]
    assert entity["name"] == "customer-features" and "entity_version" not in entity
    assert entity["state"]["deployment"] == "DEPLOYMENT_READY"

    answer = query(
        gateway,
        "features",
        [{"customer_id": 1, "amount": 10.0}, {"customer_id": 404, "amount": 1.0}],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "outputs": [
            {"customer_id": 1, "amount": 10.0, "spend_30d": 9.0, "orders": 3, "ratio": 1.0},
            {"customer_id": 404, "amount": 1.0, "spend_30d": None, "orders": None, "ratio": None},
        ]
    }
    lacking = query(gateway, "features", [{"amount": 1.0}])
    assert lacking.status_code == 400 and "customer_id" in lacking.json()["message"]

    unknown = gateway.api(
        "POST",
        BASE,
        json={"name": "nothing", "config": {"served_entities": [{"entity_name": "nope"}]}},
    )
    assert unknown.status_code == 400 and "no feature spec is named 'nope'" in unknown.text
    bad_spec = special_models.feature_echo_spec(table="missing-table").to_dict()
    refused = gateway.api("POST", "/api/2.0/feature-specs", json={"name": "bad", "spec": bad_spec})
    assert refused.status_code == 400, refused.text
    assert "table 'missing-table', which does not exist" in refused.json()["message"]
    client.close()


def test_a_training_set_gets_the_features_serving_gets(gateway: GatewayProcess) -> None:
    model = register_into(gateway, lambda: special_models.register_feature_echo("parity"))
    gateway.create("parity", [model.entity("m")])
    rows = [
        {"customer_id": 1, "amount": 10.0},
        {"customer_id": 404, "amount": 5.0},
        {"customer_id": 2, "amount": 1.0, "spend_30d": 4.0},
        {"customer_id": 2, "amount": 3.0},
    ]
    served = query(gateway, "parity", rows).json()["predictions"]
    client = ServegateClient(gateway.url, gateway.token)
    training = build_training_set(
        pd.DataFrame(rows), special_models.feature_echo_spec(), client=client
    )
    client.close()
    offline = special_models.FeatureEcho().predict(None, training)
    assert offline == served == ["9|3|1", "null|null|null", "4|7|0.2", "99|7|0.03"]


def test_a_training_set_is_point_in_time_correct(gateway: GatewayProcess) -> None:
    client = ServegateClient(gateway.url, gateway.token)
    client.create_feature_table(
        "balances",
        ["customer_id"],
        {"customer_id": "long", "balance": "double", "ts": "timestamp"},
        timestamp_key="ts",
        ttl_seconds=3600,
    )
    client.upsert_features(
        "balances",
        pd.DataFrame(
            {
                "customer_id": [1, 1],
                "balance": [20.0, 10.0],  # the later row first: order does not matter
                "ts": ["2026-01-01T02:00:00Z", "2026-01-01T00:00:00Z"],
            }
        ),
    )
    frame = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2],
            "when": pd.to_datetime(
                [
                    "2026-01-01T00:30:00Z",  # 10, written 30 min before
                    "2026-01-01T02:30:00Z",  # 20
                    "2025-12-31T23:00:00Z",  # before any value
                    "2026-01-01T01:30:00Z",  # 10 expired after its hour; 20 not yet
                    "2026-01-01T00:30:00Z",  # a key never written
                ]
            ),
            "label": [0, 1, 0, 1, 0],
        }
    )
    spec = FeatureSpec(lookups=(FeatureLookup("balances", "customer_id", ["balance"]),))
    training = build_training_set(frame, spec, client=client, timestamp_key="when")
    client.close()
    assert training["label"].tolist() == [0, 1, 0, 1, 0], "rows keep their order"
    balances = [None if pd.isna(v) else v for v in training["balance"]]
    assert balances == [10.0, 20.0, None, None, None]


def test_a_missing_key_can_be_an_error(gateway: GatewayProcess) -> None:
    model = register_into(
        gateway, lambda: special_models.register_feature_echo("strict-echo", on_missing="error")
    )
    gateway.create("strict", [model.entity("m")])
    first = query(gateway, "strict", [{"customer_id": 2, "amount": 1.0}])
    assert first.status_code == 200, first.text
    answer = query(gateway, "strict", [{"customer_id": 2, "amount": 1.0}, {"customer_id": 7}])
    assert answer.status_code == 400, answer.text
    assert "'customer_spend' has no features for {'customer_id': 7}" in answer.json()["message"]


def test_a_spec_naming_an_unknown_table_is_refused_at_creation(gateway: GatewayProcess) -> None:
    model = register_into(
        gateway, lambda: special_models.register_feature_echo("orphan-echo", table="nope")
    )
    created = gateway.api(
        "POST", BASE, json={"name": "orphan", "config": {"served_entities": [model.entity("m")]}}
    )
    assert created.status_code == 400, created.text
    assert "looks up table 'nope', which does not exist" in created.json()["message"]
    assert gateway.api("GET", f"{BASE}/orphan").status_code == 404


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, callable]]:  # type: ignore[valid-type]
    """A redis-server of this test's own on a free port, that the test can stop and start."""
    port = free_port()
    server = shutil.which("redis-server")
    assert server, "redis-server is needed"
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        processes.append(
            subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(tmp_path)],
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    start()
    yield port, start
    for process in processes:
        process.kill()
        process.wait()


def test_the_online_store_goes_away_and_comes_back(tmp_path: Path, private_redis) -> None:  # type: ignore[no-untyped-def]
    port, start_redis = private_redis
    gateway = GatewayProcess(
        tmp_path / "home", args=["--online-store", f"redis://127.0.0.1:{port}/0"]
    ).start()
    try:
        client = ServegateClient(gateway.url, gateway.token)
        client.create_feature_table("customer_spend", ["customer_id"], SCHEMA)
        client.upsert_features("customer_spend", SPEND)
        model = register_into(gateway, lambda: special_models.register_feature_echo("flaky"))
        gateway.create("flaky", [model.entity("m")])
        row = [{"customer_id": 1, "amount": 10.0}]
        assert query(gateway, "flaky", row).json() == {"predictions": ["9|3|1"]}
        replica = single_replica(gateway.home)

        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False)
        down = query(gateway, "flaky", row)
        assert down.status_code == 503, down.text
        assert down.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "online feature store is unreachable" in down.json()["message"]
        assert down.headers["Retry-After"]
        assert single_replica(gateway.home) == replica, "the replica keeps running"

        start_redis()  # back, empty (no persistence): every key is missing, then refilled
        assert query(gateway, "flaky", row).json() == {"predictions": ["null|null|null"]}
        client.upsert_features("customer_spend", SPEND)
        assert query(gateway, "flaky", row).json() == {"predictions": ["9|3|1"]}
        client.close()
    finally:
        gateway.stop()
