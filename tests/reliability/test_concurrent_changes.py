"""Many clients creating, updating and deleting endpoints at once, on SQLite and PostgreSQL.

Every request gets an answer a client can act on (never a 500); nothing is lost (every tag
added at once is there), nothing is duplicated (one creation of a name wins), every accepted
config update is one config version, and the store is consistent afterwards: the endpoints
listed are exactly the ones created and not deleted, each readable and serving, and no replica
runs for a deleted endpoint.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import replica_pids
from tests.postgres import fresh_postgres_database

BASE = "/api/2.0/serving-endpoints"
CLIENTS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayProcess]:
    store = fresh_postgres_database() if request.param == "postgresql" else nullcontext(None)
    with store as url:
        args = ["--store", url] if url else []
        process = GatewayProcess(tmp_path / "home", args=args).start()
        try:
            yield process
        finally:
            process.stop()


def at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call from ``CLIENTS`` threads at once; no answer may be a server error."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    errors = [(a.status_code, a.text[:200]) for a in answers if a.status_code >= 500]
    assert errors == [], errors
    return answers


def statuses(answers: list[requests.Response]) -> Counter[tuple[int, str]]:
    """How the answers went: (status, error_code or "")."""
    return Counter((a.status_code, "" if a.ok else a.json()["error_code"]) for a in answers)


def test_concurrent_creates_updates_and_deletes_leave_a_consistent_store(
    gateway: GatewayProcess,
) -> None:
    model = register_into(gateway, lambda: models.register_sklearn("crowded-logreg"))

    def create(name: str, served: str = "m") -> Callable[[], requests.Response]:
        config = {"served_entities": [model.entity(served)]}
        return lambda: gateway.api("POST", BASE, json={"name": name, "config": config})

    # Eight clients create each of three names: one creation wins, the others are told why.
    names = ["race-a", "race-b", "race-c"]
    answers = at_once([create(name) for name in names for _ in range(CLIENTS)])
    assert statuses(answers) == Counter(
        {(200, ""): len(names), (409, "RESOURCE_ALREADY_EXISTS"): len(names) * (CLIENTS - 1)}
    )
    for name in names:
        gateway.wait_for(name)

    # Eighty tags added by eight clients at once, ten each: none lost.
    def tag(key: str) -> Callable[[], requests.Response]:
        body = {"add_tags": [{"key": key, "value": key.upper()}]}
        return lambda: gateway.api("PATCH", f"{BASE}/race-a/tags", json=body)

    keys = [f"k{i}" for i in range(80)]
    assert statuses(at_once([tag(key) for key in keys])) == Counter({(200, ""): len(keys)})
    tags = gateway.api("GET", f"{BASE}/race-a").json()["tags"]
    assert sorted(t["key"] for t in tags) == sorted(keys)
    assert all(t["value"] == t["key"].upper() for t in tags)

    # Config updates from everyone at once: each one accepted is one new config version; the
    # others are refused while an update is in progress, and nothing is half-applied.
    def update(index: int) -> Callable[[], requests.Response]:
        body = {"served_entities": [{**model.entity("m"), "environment_vars": {"N": str(index)}}]}
        return lambda: gateway.api("PUT", f"{BASE}/race-b/config", json=body)

    accepted = 0
    for round_ in range(3):
        answers = at_once([update(round_ * CLIENTS + i) for i in range(CLIENTS)])
        outcome = statuses(answers)
        assert set(outcome) <= {(200, ""), (409, "RESOURCE_CONFLICT")}, outcome
        accepted += outcome[(200, "")]
        assert outcome[(200, "")] >= 1
        gateway.wait_for("race-b")
    endpoint = gateway.api("GET", f"{BASE}/race-b").json()
    assert endpoint["config"]["config_version"] == 1 + accepted
    assert "pending_config" not in endpoint
    served = endpoint["config"]["served_entities"]
    assert len(served) == 1 and served[0]["environment_vars"]["N"].isdigit()

    # Deletes racing each other and creates of new names: one delete of a name wins.
    creates = [create(f"new-{i}") for i in range(3)]
    deletes = [lambda: gateway.api("DELETE", f"{BASE}/race-c") for _ in range(CLIENTS)]
    answers = at_once(list(itertools.chain(creates, deletes)))
    assert statuses(answers[:3]) == Counter({(200, ""): 3})
    assert statuses(answers[3:]) == Counter(
        {(200, ""): 1, (404, "RESOURCE_DOES_NOT_EXIST"): CLIENTS - 1}
    )

    expected = {"race-a", "race-b", "new-0", "new-1", "new-2"}
    listed = [e["name"] for e in gateway.api("GET", BASE).json()["endpoints"]]
    assert sorted(listed) == sorted(expected), "each endpoint listed once, the deleted gone"
    for name in expected:
        endpoint = gateway.wait_for(name)
        assert endpoint["state"]["ready"] == "READY"
        answer = query(gateway, name, model)
        assert answer.status_code == 200, answer.text
    assert gateway.api("GET", f"{BASE}/race-c").status_code == 404
    assert_replicas_settle_to(gateway, len(expected))


def query(gateway: GatewayProcess, name: str, model: Registered) -> requests.Response:
    rows: Any = json.loads(model.sample.head(1).to_json(orient="records"))
    return gateway.api(
        "POST", f"/serving-endpoints/{name}/invocations", json={"dataframe_records": rows}
    )


def assert_replicas_settle_to(gateway: GatewayProcess, count: int, timeout: float = 60) -> None:
    """One replica per endpoint left (replaced and deleted ones stopped)."""
    assert gateway.process is not None
    deadline = time.monotonic() + timeout
    while len(found := replica_pids(gateway.process.pid)) != count:
        assert time.monotonic() < deadline, f"{len(found)} replicas, expected {count}"
        time.sleep(0.2)
