"""Autoscaling by requests in flight, and scale to zero with wake on the next request.

The gateway runs with short delays (scale up after 0.5 s, down after 2 s, to zero after 4 s
idle) and one request per replica, so load from a few threads is enough to move it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests import models
from tests.e2e import special_models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad
from tests.e2e.processes import replica_pids

BASE = "/api/2.0/serving-endpoints"
WAKE_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("scaling"),
        env={
            "SERVEGATE_REPLICA_SLOTS": "1",
            "SERVEGATE_SCALE_UP_DELAY_S": "0.5",
            "SERVEGATE_SCALE_DOWN_DELAY_S": "2",
            "SERVEGATE_SCALE_TO_ZERO_IDLE_S": "4",
            "SERVEGATE_WAKE_TIMEOUT_S": str(WAKE_TIMEOUT_S),
        },
    ).start()
    yield process
    process.stop()


def wait_until(
    gateway: GatewayProcess, name: str, check: Callable[[dict], bool], timeout: float = 120
) -> dict:
    """Poll GET until ``check`` holds for the endpoint's first served entity."""
    deadline = time.monotonic() + timeout
    entity: dict = {}
    while time.monotonic() < deadline:
        entity = gateway.api("GET", f"{BASE}/{name}").json()["config"]["served_entities"][0]
        if check(entity):
            return entity
        time.sleep(0.2)
    raise AssertionError(f"{name} never got there: {entity}")


def events(gateway: GatewayProcess, name: str) -> list[dict]:
    answer = gateway.api("GET", f"{BASE}/{name}/events")
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def replicas_of(gateway: GatewayProcess, model: Registered) -> list[int]:
    return [
        pid
        for pid in replica_pids(under=str(gateway.home))
        if f"models:/{model.name}/{model.version}" in open(f"/proc/{pid}/cmdline").read()
    ]


def test_replicas_follow_the_load_up_and_down(gateway: GatewayProcess) -> None:
    sleeper = register_into(gateway, lambda: special_models.register_sleeper("scaling-sleeper"))
    entity = {
        **sleeper.entity("slow"),
        "min_provisioned_concurrency": 1,
        "max_provisioned_concurrency": 3,
    }
    gateway.create("elastic", [entity])
    first = wait_until(gateway, "elastic", lambda e: e["scaling"]["ready_replicas"] == 1)
    assert first["scaling"] == {
        "replicas": 1,
        "ready_replicas": 1,
        "min_replicas": 1,
        "max_replicas": 3,
        "scaled_to_zero": False,
    }
    body = {"dataframe_split": {"columns": ["x"], "data": [[7.0]]}, "params": {"seconds": 0.2}}
    url = f"{gateway.url}/serving-endpoints/elastic/invocations"
    with SteadyLoad(url, gateway.headers, body, threads=6, max_seconds=120) as load:
        busy = wait_until(gateway, "elastic", lambda e: e["scaling"]["ready_replicas"] == 3)
        assert len(replicas_of(gateway, sleeper)) == 3
        assert busy["state"]["deployment"] == "DEPLOYMENT_READY"
        assert "on 3 of 3 replicas" in busy["state"]["deployment_state_message"]
        time.sleep(1)
    assert load.failures == [], load.failures[:5]
    assert load.outcomes["200"] > 0
    idle = wait_until(gateway, "elastic", lambda e: e["scaling"]["replicas"] == 1)
    assert idle["scaling"]["min_replicas"] == 1
    deadline = time.monotonic() + 60
    while len(replicas_of(gateway, sleeper)) != 1:
        assert time.monotonic() < deadline, "the surplus replicas never stopped"
        time.sleep(0.2)
    kinds = [event["event_type"] for event in events(gateway, "elastic")]
    assert "SCALED_UP" in kinds and "SCALED_DOWN" in kinds, kinds
    assert kinds.index("SCALED_UP") < len(kinds) - 1 - kinds[::-1].index("SCALED_DOWN")
    scaled = next(e for e in events(gateway, "elastic") if e["event_type"] == "SCALED_UP")
    assert scaled["served_entity_name"] == "slow" and "requests in flight" in scaled["message"]


def query(gateway: GatewayProcess, name: str, model: Registered) -> requests.Response:
    rows = json.loads(model.sample.head(3).to_json(orient="split", index=False))
    return gateway.api(
        "POST", f"/serving-endpoints/{name}/invocations", json={"dataframe_split": rows}
    )


def test_scaled_to_zero_wakes_on_the_next_request(gateway: GatewayProcess) -> None:
    model = register_into(gateway, lambda: models.register_sklearn("sleepy-logreg"))
    gateway.create("sleepy", [{**model.entity("m"), "scale_to_zero_enabled": True}])
    expected = query(gateway, "sleepy", model)
    assert expected.status_code == 200, expected.text

    asleep = wait_until(gateway, "sleepy", lambda e: e["scaling"]["scaled_to_zero"], timeout=60)
    assert asleep["state"]["deployment"] == "DEPLOYMENT_READY", "scaled to zero is still ready"
    assert "Scaled to zero" in asleep["state"]["deployment_state_message"]
    deadline = time.monotonic() + 60
    while replicas_of(gateway, model):
        assert time.monotonic() < deadline, "the replica never stopped"
        time.sleep(0.2)
    endpoint = gateway.api("GET", f"{BASE}/sleepy").json()
    assert endpoint["state"]["ready"] == "READY"

    woken = query(gateway, "sleepy", model)  # waits while a replica starts
    assert woken.status_code == 200, woken.text
    assert woken.json() == expected.json()
    assert woken.headers["served-model-name"] == "m"
    assert len(replicas_of(gateway, model)) == 1
    kinds = [event["event_type"] for event in events(gateway, "sleepy")]
    scaling = [kind for kind in kinds if kind.startswith(("SCALED", "WOKEN"))]
    assert scaling[-2:] == ["SCALED_TO_ZERO", "WOKEN_FROM_ZERO"], kinds

    shown = events_cli(gateway, "sleepy", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["event_type"] for e in json.loads(shown.stdout)][: len(kinds)] == kinds
    table = events_cli(gateway, "sleepy")
    assert table.returncode == 0 and "WOKEN_FROM_ZERO" in table.stdout
    missing = events_cli(gateway, "no-such-endpoint")
    assert missing.returncode == 1 and "does not exist" in missing.stdout


def events_cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servegate", "events", *args]
        + ["--url", gateway.url, "--token", gateway.token],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_wake_longer_than_the_bound_gets_503_with_retry_after(gateway: GatewayProcess) -> None:
    slow = register_into(gateway, lambda: special_models.register_slow_to_load("slow-loader"))
    entity = {
        **slow.entity("m"),
        "scale_to_zero_enabled": True,
        "environment_vars": {"LOAD_SECONDS": str(WAKE_TIMEOUT_S + 5)},
    }
    gateway.create("drowsy", [entity])
    wait_until(gateway, "drowsy", lambda e: e["scaling"]["scaled_to_zero"], timeout=60)

    started = time.monotonic()
    answer = query(gateway, "drowsy", slow)
    waited = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "scaled to zero" in answer.json()["message"]
    assert waited >= WAKE_TIMEOUT_S - 0.5, "it waited for the replica before giving up"
    deadline = time.monotonic() + 90
    while (answer := query(gateway, "drowsy", slow)).status_code == 503:
        assert time.monotonic() < deadline, answer.text
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [1.0, 2.0]}
