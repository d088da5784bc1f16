"""Prometheus metrics: scraped with a real OpenMetrics parser from a gateway with two
workers, summed across the workers and the replicas, kept across a replica's restart."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import single_replica

BASE = "/api/2.0/serving-endpoints"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("metrics"), args=["--workers", "2"]).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def model(gateway: GatewayProcess) -> Registered:
    return register_into(gateway, lambda: models.register_sklearn("metered-logreg"))


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(gateway: GatewayProcess, path: str = "/metrics") -> dict:
    answer = gateway.api("GET", path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    return samples(answer.text)


def send(gateway: GatewayProcess, body: dict) -> int:
    # A new connection each time, so the requests spread over both workers.
    return requests.post(
        f"{gateway.url}/serving-endpoints/metered/invocations",
        json=body,
        headers={**gateway.headers, "Connection": "close"},
        timeout=60,
    ).status_code


def test_counters_histograms_and_gauges_move_with_requests(
    gateway: GatewayProcess, model: Registered
) -> None:
    gateway.create("metered", [model.entity("m")])
    good = {"dataframe_records": json.loads(model.sample.head(1).to_json(orient="records"))}
    bad = {"dataframe_records": [{"no such column": 1.0}]}
    assert [send(gateway, good) for _ in range(30)] == [200] * 30
    assert [send(gateway, bad) for _ in range(5)] == [400] * 5

    found = scrape(gateway)
    labels = {"endpoint": "metered", "served_model": "m"}
    assert value(found, "servegate_requests_total", **labels, status="200") == 30
    assert value(found, "servegate_requests_total", **labels, status="400") == 5
    assert value(found, "servegate_request_seconds_count", **labels) == 35
    assert value(found, "servegate_replica_request_seconds_count", **labels) == 35, (
        "the replica's own histogram, from its process"
    )
    assert value(found, "servegate_batch_rows_count", **labels) >= 30, "fast path predicts"
    assert value(found, "servegate_replicas", **labels, state="ready") == 1
    assert value(found, "servegate_replicas", **labels, state="wanted") == 1
    assert value(found, "servegate_inflight_requests", **labels) == 0

    own = scrape(gateway, f"{BASE}/metered/metrics")
    assert own and all(dict(labelset).get("endpoint") == "metered" for (_, labelset) in own), (
        "only this endpoint's samples"
    )
    assert value(own, "servegate_requests_total", **labels, status="200") == 30
    assert gateway.api("GET", f"{BASE}/nope/metrics").status_code == 404

    gateway.create_user("nosy@example.com")
    token, _ = gateway.token_for("nosy@example.com")
    nosy = {"Authorization": f"Bearer {token}"}
    assert gateway.api("GET", "/metrics", headers=nosy).status_code == 403
    assert gateway.api("GET", f"{BASE}/metered/metrics", headers=nosy).status_code == 403


def test_totals_survive_a_replica_restart(gateway: GatewayProcess, model: Registered) -> None:
    labels = {"endpoint": "metered", "served_model": "m"}
    before = scrape(gateway)
    replica = single_replica(gateway.home)
    os.kill(replica, signal.SIGKILL)
    good = {"dataframe_records": json.loads(model.sample.head(1).to_json(orient="records"))}
    deadline = time.monotonic() + 120
    while send(gateway, good) != 200:
        assert time.monotonic() < deadline, "the replica never came back"
        time.sleep(0.1)
    after = scrape(gateway)
    served_before = value(before, "servegate_replica_request_seconds_count", **labels)
    assert value(after, "servegate_replica_request_seconds_count", **labels) == served_before + 1
    assert value(after, "servegate_requests_total", **labels, status="200") > value(
        before, "servegate_requests_total", **labels, status="200"
    )
