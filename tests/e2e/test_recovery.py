"""A killed replica comes back; a restarted gateway brings every endpoint back from the store."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests import models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import alive, replica_pids

BASE = "/api/2.0/serving-endpoints"


def wait_until(predicate, timeout: float = 60, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def own_gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    gateway = GatewayProcess(tmp_path / "home").start()
    yield gateway
    gateway.stop(signal.SIGKILL)


def test_replica_crash_and_gateway_restart(own_gateway: GatewayProcess) -> None:
    gateway = own_gateway
    model = register_into(gateway, lambda: models.register_sklearn("recovering", c=1.0))
    gateway.create("survivor", [model.entity("m")])
    body = {"dataframe_records": json.loads(model.sample.head(2).to_json(orient="records"))}
    expected = gateway.api("POST", "/serving-endpoints/survivor/invocations", json=body).json()

    # SIGKILL the replica: the state shows RECOVERING, then READY, and it answers again.
    [pid] = replica_pids(gateway.process.pid)
    os.kill(pid, signal.SIGKILL)
    seen: set[str] = set()

    def recovered() -> bool:
        state = gateway.api("GET", f"{BASE}/survivor").json()
        deployment = state["config"]["served_entities"][0]["state"]
        seen.add(deployment["deployment"])
        return deployment["deployment"] == "DEPLOYMENT_READY" and len(seen) > 1

    wait_until(recovered, timeout=120, interval=0.05)
    assert "DEPLOYMENT_RECOVERING" in seen
    build_log = gateway.api("GET", f"{BASE}/survivor/served-models/m/build-logs").json()["logs"]
    assert build_log.count("downloaded artifacts") == 1, "the restart reuses the cached copy"
    assert "using cached artifacts" in build_log
    [new_pid] = replica_pids(gateway.process.pid)
    assert new_pid != pid
    again = gateway.api("POST", "/serving-endpoints/survivor/invocations", json=body)
    assert again.status_code == 200 and again.json() == expected

    # An update: requested, then serving; the history tells the whole story, oldest first.
    updated = gateway.api(
        "PUT", f"{BASE}/survivor/config", json={"served_entities": [model.entity("m2")]}
    )
    assert updated.status_code == 200, updated.text
    gateway.wait_for("survivor")
    history = gateway.api("GET", f"{BASE}/survivor/events").json()["events"]
    story = [(e["event_type"], e.get("served_entity_name")) for e in history]
    for step in [
        ("CONFIG_UPDATE_REQUESTED", None),
        ("STATE_CHANGED", "m"),  # → READY
        ("CONFIG_UPDATED", None),
        ("REPLICA_EXITED", "m"),
        ("REPLICA_RESTARTED", "m"),
        ("STATE_CHANGED", "m"),  # → RECOVERING
        ("STATE_CHANGED", "m"),  # → READY
        ("CONFIG_UPDATE_REQUESTED", None),
        ("CONFIG_UPDATED", None),
    ]:
        assert step in story, (step, story)
        story = story[story.index(step) + 1 :]
    messages = [e["message"] for e in history]
    assert any("READY → DEPLOYMENT_RECOVERING" in m for m in messages), messages
    assert any("config version 2 with m2" in m for m in messages), messages
    [new_pid] = wait_until(lambda: len(pids := replica_pids(gateway.process.pid)) == 1 and pids)

    # Stop the gateway: its replicas stop with it; start it again: the endpoint is back.
    gateway.stop()
    wait_until(lambda: not alive(new_pid), timeout=30)
    gateway.start()
    gateway.wait_for("survivor")
    back = gateway.api("POST", "/serving-endpoints/survivor/invocations", json=body)
    assert back.status_code == 200 and back.json() == expected

    # SIGKILL the gateway: no replica outlives it.
    [orphan_candidate] = replica_pids(gateway.process.pid)
    gateway.stop(signal.SIGKILL)
    wait_until(lambda: not alive(orphan_candidate), timeout=30)
