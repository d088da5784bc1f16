"""SIGKILL one of a served model's replicas under steady load.

Only the requests in flight on the killed replica may fail (each as a 503 with Retry-After,
never a hang or a 500); a request sent after the kill goes to the other replica; the killed one
is replaced, and the served model's state goes RECOVERING, then READY, while the endpoint
stays READY (the other replica answers).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e import special_models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad
from tests.e2e.processes import replica_pids

BASE = "/api/2.0/serving-endpoints"
THREADS = 6
ROUNDS = 3


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # Two requests at once per replica: provisioned concurrency 4 is two replicas.
    env = {"SERVEGATE_REPLICA_SLOTS": "2"}
    process = GatewayProcess(tmp_path_factory.mktemp("killed"), env=env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def sturdy(gateway: GatewayProcess) -> str:
    """An endpoint serving a model that sleeps as long as asked, on two replicas."""
    sleeper = register_into(gateway, lambda: special_models.register_sleeper("sturdy-sleeper"))
    entity = {
        **sleeper.entity("slow"),
        "min_provisioned_concurrency": 4,
        "max_provisioned_concurrency": 4,
    }
    gateway.create("sturdy", [entity])
    return f"{gateway.url}/serving-endpoints/sturdy/invocations"


def deployment_state(gateway: GatewayProcess, seen_ready: list[str] | None = None) -> str:
    """The served model's deployment state (and the endpoint's readiness, into
    ``seen_ready``)."""
    endpoint = gateway.api("GET", f"{BASE}/sturdy").json()
    if seen_ready is not None:
        seen_ready.append(endpoint["state"]["ready"])
    return str(endpoint["config"]["served_entities"][0]["state"]["deployment"])


def test_only_requests_in_flight_on_a_killed_replica_fail(
    gateway: GatewayProcess, sturdy: str
) -> None:
    assert gateway.process is not None
    body = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}, "params": {"seconds": 0.05}}

    kills: list[float] = []
    states: list[str] = []
    readiness: list[str] = []
    with SteadyLoad(sturdy, gateway.headers, body, threads=THREADS, max_seconds=300) as load:
        for _ in range(ROUNDS):
            before = wait_for_replicas(gateway, 2)
            time.sleep(1.0)  # steady load on both
            victim = before[0]
            kills.append(time.monotonic())
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 120
            while True:
                states.append(deployment_state(gateway, readiness))
                after = replica_pids(gateway.process.pid)
                if states[-1] == "DEPLOYMENT_READY" and len(after) == 2 and victim not in after:
                    break
                assert time.monotonic() < deadline, (states[-5:], after)
                time.sleep(0.05)
            time.sleep(1.0)  # and steady again

    failed = [sent for sent in load.timeline if sent.outcome != "200"]
    in_flight = [
        sent for sent in load.timeline if any(sent.at < kill < sent.answered_at for kill in kills)
    ]
    print(
        f"{load.total} requests, {len(kills)} replicas killed, {len(in_flight)} in flight at a "
        f"kill (on either replica), {len(failed)} failed: {load.outcomes}"
    )
    assert load.outcomes["200"] > 100
    assert all(sent in in_flight for sent in failed), [
        (s.outcome, s.detail) for s in failed if s not in in_flight
    ]
    assert len(failed) <= ROUNDS * THREADS
    for sent in failed:
        assert sent.outcome == "503" and "stopped before it replied" in sent.detail, sent
    assert "DEPLOYMENT_RECOVERING" in states
    assert states[-1] == "DEPLOYMENT_READY"
    assert set(readiness) == {"READY"}, "the endpoint serves throughout: one replica answers"
    kinds = [e["event_type"] for e in gateway.api("GET", f"{BASE}/sturdy/events").json()["events"]]
    assert kinds.count("REPLICA_RESTARTED") >= ROUNDS, kinds


def test_a_request_that_kills_replicas_is_tried_on_two_at_most(
    gateway: GatewayProcess, sturdy: str
) -> None:
    """A dropped request is tried again only once: a request of death cannot take every
    replica down with it."""
    assert gateway.process is not None
    wait_for_replicas(gateway, 2)
    gateway.wait_for("sturdy")
    restarts = restarts_of(gateway)
    deadly = {"dataframe_split": {"columns": ["x"], "data": [[-1.0]]}}
    answer = requests.post(sturdy, json=deadly, headers=gateway.headers, timeout=60)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert answer.headers["Retry-After"] == "1"
    deadline = time.monotonic() + 120
    while restarts_of(gateway) < restarts + 2 or deployment_state(gateway) != "DEPLOYMENT_READY":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    assert restarts_of(gateway) == restarts + 2, "two replicas died, and no more"
    fine = {"dataframe_split": {"columns": ["x"], "data": [[3.0]]}}
    again = requests.post(sturdy, json=fine, headers=gateway.headers, timeout=60)
    assert again.status_code == 200 and again.json() == {"predictions": [3.0]}


def restarts_of(gateway: GatewayProcess) -> int:
    events = gateway.api("GET", f"{BASE}/sturdy/events").json()["events"]
    return sum(event["event_type"] == "REPLICA_RESTARTED" for event in events)


def wait_for_replicas(gateway: GatewayProcess, count: int, timeout: float = 120) -> list[int]:
    assert gateway.process is not None
    deadline = time.monotonic() + timeout
    while len(found := replica_pids(gateway.process.pid)) != count:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found
