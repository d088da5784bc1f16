"""An update whose model cannot load fails cleanly: the old config keeps serving."""

from __future__ import annotations

import json

from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad
from tests.e2e.special_models import register_broken

BASE = "/api/2.0/serving-endpoints"


def test_failed_update_keeps_old_config_serving(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1 = sklearn_versions[0]
    broken = register_into(gateway, lambda: register_broken("broken-model"))
    gateway.create("resilient", [v1.entity("good")])
    body = {"dataframe_records": json.loads(v1.sample.head(1).to_json(orient="records"))}
    url = f"{gateway.url}/serving-endpoints/resilient/invocations"
    with SteadyLoad(url, gateway.headers, body, threads=2) as load:
        response = gateway.api(
            "PUT",
            f"{BASE}/resilient/config",
            json={
                "served_entities": [
                    {"name": "bad", "entity_name": broken.name, "entity_version": broken.version}
                ]
            },
        )
        assert response.status_code == 200
        failed = gateway.wait_for("resilient", ready=False)
    assert load.failures == [] and load.total > 0
    assert failed["state"] == {"ready": "READY", "config_update": "UPDATE_FAILED"}
    assert failed["config"]["config_version"] == 1
    assert failed["config"]["served_entities"][0]["name"] == "good"
    bad = failed["pending_config"]["served_entities"][0]
    assert bad["state"]["deployment"] == "DEPLOYMENT_FAILED"
    assert "broken on purpose" in bad["state"]["deployment_state_message"]
    logs = gateway.api("GET", f"{BASE}/resilient/served-models/bad/build-logs").json()["logs"]
    assert "broken on purpose" in logs

    # After a failed update a new one is accepted and succeeds.
    again = gateway.api(
        "PUT",
        f"{BASE}/resilient/config",
        json={
            "served_entities": [
                {"name": "good-again", "entity_name": v1.name, "entity_version": v1.version}
            ]
        },
    )
    assert again.status_code == 200
    done = gateway.wait_for("resilient")
    assert done["config"]["config_version"] == 3 and "pending_config" not in done
    gateway.api("DELETE", f"{BASE}/resilient")
