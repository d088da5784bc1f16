"""Replicas forked from the warm zygote: what they can see, and what happens when it dies."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import special_models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import alive, launcher_of, parent_of, replica_pids

BASE = "/api/2.0/serving-endpoints"
ADMIN_TOKEN = "zygote-admin-token-123"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("zygote"), env={"SERVEGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    ).start()
    yield process
    process.stop()


def ask(gateway: GatewayProcess) -> dict:
    answer = gateway.api(
        "POST",
        "/serving-endpoints/snoop/invocations",
        json={"dataframe_records": [{"x": 1.0}]},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_forked_replica_sees_none_of_the_gateway_settings(gateway: GatewayProcess) -> None:
    model = register_into(gateway, lambda: special_models.register_environment_snoop("snoop"))
    gateway.create("snoop", [model.entity("m")])
    assert ask(gateway) == {"predictions": ["clean"]}

    [replica] = replica_pids(under=str(gateway.home))
    zygote = parent_of(replica)
    assert zygote is not None and zygote != gateway.process.pid
    assert "servegate.replica.zygote" in Path(f"/proc/{zygote}/cmdline").read_text()
    assert launcher_of(replica) == gateway.process.pid
    title = Path(f"/proc/{replica}/cmdline").read_bytes().decode()
    assert title.startswith(f"servegate replica {model.uri} --uds "), title
    assert ADMIN_TOKEN.encode() not in Path(f"/proc/{zygote}/environ").read_bytes()


def test_replicas_outlive_a_dead_zygote_and_restart_through_a_new_one(
    gateway: GatewayProcess,
) -> None:
    [replica] = replica_pids(under=str(gateway.home))
    zygote = parent_of(replica)
    assert zygote is not None
    os.kill(zygote, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(zygote):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ask(gateway) == {"predictions": ["clean"]}, "the replica serves on"

    os.kill(replica, signal.SIGKILL)  # the gateway notices without the zygote's word
    deadline = time.monotonic() + 120
    while True:
        found = replica_pids(under=str(gateway.home))
        entity = gateway.api("GET", f"{BASE}/snoop").json()["config"]["served_entities"][0]
        if found and found != [replica] and entity["state"]["deployment"] == "DEPLOYMENT_READY":
            break
        assert time.monotonic() < deadline, entity
        time.sleep(0.1)
    [restarted] = found
    new_zygote = parent_of(restarted)
    assert new_zygote not in (None, zygote, gateway.process.pid)
    assert ask(gateway) == {"predictions": ["clean"]}
    events = gateway.api("GET", f"{BASE}/snoop/events").json()["events"]
    exits = [event for event in events if event["event_type"] == "REPLICA_EXITED"]
    assert exits and exits[-1]["served_entity_name"] == "m", events
    log = json.dumps(events)
    assert "killed by signal" in log or "exited" in log
