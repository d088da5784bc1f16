"""``servegate serve --workers 2``: one set of replicas, exact rate limits, leader failover."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import assert_within_limit, burst
from tests.e2e.processes import alive, launcher_of, single_replica, worker_pids

BASE = "/api/2.0/serving-endpoints"


@pytest.fixture(scope="module")
def workers_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("workers"), args=["--workers", "2"]).start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def model(workers_gateway: GatewayProcess) -> Registered:
    return register_into(workers_gateway, lambda: models.register_sklearn("wk-logreg"))


def query(gateway: GatewayProcess, model: Registered) -> requests.Response:
    body = {"dataframe_records": json.loads(model.sample.head(1).to_json(orient="records"))}
    return gateway.api("POST", "/serving-endpoints/wk/invocations", json=body)


def test_workers_share_replicas_and_rate_limits(
    workers_gateway: GatewayProcess, model: Registered
) -> None:
    gateway = workers_gateway
    assert gateway.process is not None
    workers = worker_pids(gateway.process.pid)
    assert len(workers) == 2, workers
    created = gateway.api(
        "POST",
        BASE,
        json={
            "name": "wk",
            "config": {"served_entities": [model.entity("m")]},
            "ai_gateway": {"rate_limits": [{"calls": 60, "key": "endpoint"}]},
        },
    )
    assert created.status_code == 200, created.text
    gateway.wait_for("wk")
    replica = single_replica(gateway.home)
    assert launcher_of(replica) in workers, "the leading worker runs the replica"

    # Each request a new connection: the kernel spreads them over both workers; whichever
    # answers knows the endpoint, and the limit holds across them (a bucket per worker
    # would let ~120 through).
    url = f"{gateway.url}/serving-endpoints/wk/invocations"
    body = {"dataframe_records": json.loads(model.sample.head(1).to_json(orient="records"))}
    outcome, seconds = burst(url, body, [gateway.token], 200)
    print(f"60/min across 2 workers, 200 requests in {seconds:.1f}s: {outcome}")
    assert_within_limit(outcome[200], 60, seconds)

    lifted = gateway.api("PUT", f"{BASE}/wk/rate-limits", json={"rate_limits": []})
    assert lifted.status_code == 200, lifted.text
    # The leader applies it within a pass, its followers within a poll: wait until 20
    # answers in a row (from either worker) are 200, then every answer is.
    deadline, in_a_row = time.monotonic() + 10, 0
    while in_a_row < 20:
        assert time.monotonic() < deadline, "a worker kept the lifted limit"
        in_a_row = in_a_row + 1 if query(gateway, model).status_code == 200 else 0
    statuses = [query(gateway, model).status_code for _ in range(50)]
    assert statuses == [200] * 50


def test_leader_worker_dies_and_another_takes_over(
    workers_gateway: GatewayProcess, model: Registered
) -> None:
    gateway = workers_gateway
    assert gateway.process is not None
    gateway.wait_for("wk")
    replica = single_replica(gateway.home)
    leader = launcher_of(replica)
    assert leader is not None
    killed_at = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    deadline = killed_at + 30
    while alive(replica):  # it never outlives the process that started it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    deadline = killed_at + 120
    while True:
        assert time.monotonic() < deadline, "no worker took over"
        try:
            if query(gateway, model).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    print(f"serving again {time.monotonic() - killed_at:.1f}s after the leading worker died")
    assert launcher_of(single_replica(gateway.home)) != leader
    deadline = time.monotonic() + 60
    while len(worker_pids(gateway.process.pid)) != 2:  # the supervisor replaces the dead one
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert gateway.wait_for("wk")["state"]["ready"] == "READY"
