"""Config updates in a loop under steady load: not one request fails.

Each update changes something that needs new replicas or new routes: the model version, a
second served model with a traffic split, the split itself, environment variables, the number
of replicas, and back. Requests keep flowing from six clients the whole time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad

BASE = "/api/2.0/serving-endpoints"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {"SERVEGATE_REPLICA_SLOTS": "2"}
    process = GatewayProcess(tmp_path_factory.mktemp("updated"), env=env).start()
    yield process
    process.stop()


def configs(one: Registered, two: Registered) -> list[dict]:
    """The loop's configs, each different from the one before in a way that matters."""

    def routes(*split: tuple[str, int]) -> dict:
        return {"routes": [{"served_model_name": n, "traffic_percentage": p} for n, p in split]}

    return [
        {"served_entities": [two.entity("b")]},
        {
            "served_entities": [two.entity("b"), one.entity("a")],
            "traffic_config": routes(("b", 50), ("a", 50)),
        },
        {
            "served_entities": [two.entity("b"), one.entity("a")],
            "traffic_config": routes(("b", 90), ("a", 10)),
        },
        {"served_entities": [{**one.entity("a"), "environment_vars": {"COLOUR": "blue"}}]},
        {
            "served_entities": [
                {
                    **one.entity("a"),
                    "environment_vars": {"COLOUR": "blue"},
                    "min_provisioned_concurrency": 4,
                    "max_provisioned_concurrency": 4,
                }
            ]
        },
        {"served_entities": [two.entity("b")]},
        {"served_entities": [one.entity("a")]},
    ]


def test_zero_failed_requests_through_a_loop_of_updates(gateway: GatewayProcess) -> None:
    one = register_into(gateway, lambda: models.register_sklearn("looped", c=1.0))
    two = register_into(gateway, lambda: models.register_sklearn("looped", c=0.01))
    gateway.create("looping", [one.entity("a")])
    body = {"dataframe_records": json.loads(one.sample.head(1).to_json(orient="records"))}
    url = f"{gateway.url}/serving-endpoints/looping/invocations"
    loop = configs(one, two)
    with SteadyLoad(url, gateway.headers, body, threads=6, max_seconds=300) as load:
        time.sleep(1)
        for config in loop:
            updated = gateway.api("PUT", f"{BASE}/looping/config", json=config)
            assert updated.status_code == 200, updated.text
            done = gateway.wait_for("looping")
            shown = [e["name"] for e in done["config"]["served_entities"]]
            assert shown == [e["name"] for e in config["served_entities"]]
            time.sleep(0.5)
    print(
        f"{load.total} requests over {len(loop)} updates: {dict(load.outcomes)}, "
        f"served by {dict(load.served)}"
    )
    assert load.failures == [], load.failures[:5]
    assert load.total > 200, "the load kept flowing"
    assert set(load.served) == {"a", "b"}
    assert done["config"]["config_version"] == 1 + len(loop)
