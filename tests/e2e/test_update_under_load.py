"""Swapping the served model version under continuous load loses no request."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad

BASE = "/api/2.0/serving-endpoints"


def test_zero_failed_requests_while_versions_swap(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, v2 = sklearn_versions
    gateway.create("swap", [v1.entity("first")])
    body = {"dataframe_records": json.loads(v1.sample.head(1).to_json(orient="records"))}
    url = f"{gateway.url}/serving-endpoints/swap/invocations"
    with SteadyLoad(url, gateway.headers, body) as load:
        time.sleep(1)
        for name, model in (("second", v2), ("first", v1), ("second", v2)):
            response = gateway.api(
                "PUT",
                f"{BASE}/swap/config",
                json={
                    "served_entities": [
                        {"name": name, "entity_name": model.name, "entity_version": model.version}
                    ]
                },
            )
            assert response.status_code == 200, response.text
            done = gateway.wait_for("swap")
            assert done["config"]["served_entities"][0]["name"] == name
            time.sleep(1)
        final_total = load.total
    assert load.failures == [], load.failures[:5]
    assert final_total > 50, "the load kept flowing during the swaps"
    assert set(load.served) == {"first", "second"}
    assert done["config"]["config_version"] == 4
    gateway.api("DELETE", f"{BASE}/swap")
