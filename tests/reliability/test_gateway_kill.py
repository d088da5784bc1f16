"""SIGKILL the gateway in the middle of a config update, then start it again.

The update was stored whole before it was acknowledged, so after the restart it resumes: the
old config serves until the new one is READY, then the new one does. No config is half
written, no replica outlives the killed gateway, and no replica is left over afterwards.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import sqlalchemy as sa

from tests import models
from tests.e2e import special_models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import alive, replica_pids

BASE = "/api/2.0/serving-endpoints"
LOAD_SECONDS = 4


def query(gateway: GatewayProcess, model: Registered) -> dict:
    rows = json.loads(model.sample.head(1).to_json(orient="records"))
    answer = gateway.api(
        "POST", "/serving-endpoints/midway/invocations", json={"dataframe_records": rows}
    )
    assert answer.status_code == 200, answer.text
    return {"served": answer.headers["served-model-name"], "predictions": answer.json()}


def wait_until(condition, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def test_a_gateway_killed_mid_update_resumes_it_after_restart(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "home").start()
    try:
        old = register_into(gateway, lambda: models.register_sklearn("midway-logreg"))
        new = register_into(gateway, lambda: special_models.register_slow_to_load("midway-slow"))
        gateway.create("midway", [old.entity("old")])
        assert query(gateway, old)["served"] == "old"

        slow = {**new.entity("new"), "environment_vars": {"LOAD_SECONDS": str(LOAD_SECONDS)}}
        updated = gateway.api("PUT", f"{BASE}/midway/config", json={"served_entities": [slow]})
        assert updated.status_code == 200, updated.text
        assert gateway.process is not None
        launched = wait_until(lambda: len(pids := replica_pids(gateway.process.pid)) == 2 and pids)
        endpoint = gateway.api("GET", f"{BASE}/midway").json()
        assert endpoint["state"]["config_update"] == "IN_PROGRESS", endpoint["state"]
        gateway.stop(signal.SIGKILL)  # while the new replica loads

        wait_until(lambda: not any(alive(pid) for pid in launched), timeout=30)
        assert replica_pids(under=str(gateway.home)) == [], "no replica outlives its gateway"
        assert_configs_whole(gateway.home / "servegate.db")

        gateway.start()
        during = gateway.api("GET", f"{BASE}/midway").json()
        assert during["config"]["config_version"] == 1, "the old config is still the one serving"
        assert during["pending_config"]["config_version"] == 2
        assert during["state"]["config_update"] == "IN_PROGRESS", "the update resumes"

        after = gateway.wait_for("midway")
        assert after["config"]["config_version"] == 2
        assert [e["name"] for e in after["config"]["served_entities"]] == ["new"]
        assert "pending_config" not in after
        assert query(gateway, new)["served"] == "new"
        wait_until(lambda: len(replica_pids(gateway.process.pid)) == 1)
        assert replica_pids(under=str(gateway.home)) == replica_pids(gateway.process.pid)
        kinds = [
            e["event_type"] for e in gateway.api("GET", f"{BASE}/midway/events").json()["events"]
        ]
        assert kinds.count("CONFIG_UPDATE_REQUESTED") == 2 and kinds[-1] != "UPDATE_FAILED", kinds
    finally:
        gateway.stop()


def assert_configs_whole(database: Path) -> None:
    """Every stored config parses and names its served entities; versions have no gaps."""
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            versions = (
                connection.execute(sa.text("SELECT version FROM endpoint_configs ORDER BY version"))
                .scalars()
                .all()
            )
            entities = connection.execute(
                sa.text(
                    "SELECT c.version, count(e.name) FROM endpoint_configs c "
                    "LEFT JOIN served_entities e ON e.config_id = c.id GROUP BY c.version"
                )
            ).all()
    finally:
        engine.dispose()
    assert list(versions) == [1, 2]
    assert all(count == 1 for _, count in entities), entities
