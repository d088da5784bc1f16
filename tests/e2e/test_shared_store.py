"""Two gateways on one PostgreSQL store: one leads, both serve, the other takes over."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import alive, launcher_of, single_replica
from tests.postgres import fresh_postgres_database

BASE = "/api/2.0/serving-endpoints"


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways sharing one PostgreSQL store (and one home, so one embedded registry).

    Scale to zero comes after 10 s idle: long enough that a busy machine still sees the replica
    (and so which gateway leads) before it stops."""
    env = {"SERVEGATE_SCALE_TO_ZERO_IDLE_S": "10"}
    with fresh_postgres_database() as url:
        first = GatewayProcess(tmp_path, args=["--store", url], env=env).start()
        second = GatewayProcess(tmp_path, args=["--store", url], env=env).start()
        try:
            yield first, second
        finally:
            second.stop()
            first.stop()


def query(gateway: GatewayProcess, model: Registered) -> requests.Response:
    body = {"dataframe_records": json.loads(model.sample.head(1).to_json(orient="records"))}
    return gateway.api("POST", "/serving-endpoints/shared/invocations", json=body)


def served_by(gateway: GatewayProcess, model: Registered, served: str, timeout: float) -> float:
    """Seconds until ``gateway`` answers with ``served`` (fails after ``timeout``)."""
    started = time.monotonic()
    while True:
        try:
            answer = query(gateway, model)
            if answer.status_code == 200 and answer.headers["served-model-name"] == served:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        assert time.monotonic() - started < timeout, f"{gateway.url} never served {served}"
        time.sleep(0.05)


def test_two_gateways_share_one_store_and_fail_over(
    two_gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    first, second = two_gateways
    v1 = register_into(first, lambda: models.register_sklearn("shared-logreg", c=1.0))
    v2 = register_into(first, lambda: models.register_sklearn("shared-logreg", c=0.01))

    created = first.api(
        "POST", BASE, json={"name": "shared", "config": {"served_entities": [v1.entity("one")]}}
    )
    assert created.status_code == 200, created.text
    assert second.wait_for("shared")["config"]["served_entities"][0]["name"] == "one"
    assert query(second, v1).status_code == 200, "READY through one gateway: served by both"
    assert query(first, v1).status_code == 200

    # A change made through the follower is served by both once READY.
    updated = second.api(
        "PUT", f"{BASE}/shared/config", json={"served_entities": [v2.entity("two")]}
    )
    assert updated.status_code == 200, updated.text
    first.wait_for("shared")
    lag = max(served_by(g, v2, "two", timeout=5) for g in (first, second))
    print(f"after READY, both gateways served the new config within {lag:.2f}s")

    replica = single_replica(first.home)
    assert first.process is not None and second.process is not None
    leader, follower = (first, second)
    if launcher_of(replica) != first.process.pid:
        leader, follower = (second, first)
    killed_at = time.monotonic()
    leader.stop(signal.SIGKILL)
    while alive(replica):  # the leader's replicas go with it
        assert time.monotonic() - killed_at < 30
        time.sleep(0.05)
    served_by(follower, v2, "two", timeout=120)
    takeover = time.monotonic() - killed_at
    print(f"the other gateway led and served again {takeover:.1f}s after the leader was killed")
    new_replica = single_replica(first.home)
    assert launcher_of(new_replica) == follower.process.pid
    assert follower.wait_for("shared")["state"]["ready"] == "READY"


def test_a_request_at_the_follower_wakes_an_entity_scaled_to_zero(
    two_gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    first, second = two_gateways
    model = register_into(first, lambda: models.register_sklearn("drowsy-logreg"))
    entity = {**model.entity("m"), "scale_to_zero_enabled": True}
    first.create("drowsy", [entity])
    assert first.process is not None and second.process is not None
    asleep = single_replica(first.home)
    leader_pid = launcher_of(asleep)
    follower = second if leader_pid == first.process.pid else first

    deadline = time.monotonic() + 60
    while not follower.api("GET", f"{BASE}/drowsy").json()["config"]["served_entities"][0][
        "scaling"
    ]["scaled_to_zero"]:
        assert time.monotonic() < deadline, "never scaled to zero"
        time.sleep(0.2)
    while alive(asleep):
        assert time.monotonic() < deadline, "the replica never stopped"
        time.sleep(0.05)
    rows = json.loads(model.sample.head(2).to_json(orient="records"))
    answer = follower.api(
        "POST", "/serving-endpoints/drowsy/invocations", json={"dataframe_records": rows}
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
    assert launcher_of(single_replica(first.home)) == leader_pid, "the leader started it"
    kinds = [e["event_type"] for e in follower.api("GET", f"{BASE}/drowsy/events").json()["events"]]
    scaling = [kind for kind in kinds if kind.startswith(("SCALED", "WOKEN"))]
    assert scaling[-2:] == ["SCALED_TO_ZERO", "WOKEN_FROM_ZERO"], kinds
