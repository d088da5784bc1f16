"""Rate limits hold under concurrent load from several clients."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import assert_within_limit, burst

BASE = "/api/2.0/serving-endpoints"


def user_token(gateway: GatewayProcess, name: str) -> str:
    gateway.create_user(name)
    return gateway.token_for(name)[0]


def test_rate_limits_hold_under_concurrent_load(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1 = sklearn_versions[0]
    created = gateway.api(
        "POST",
        BASE,
        json={
            "name": "limited",
            "config": {"served_entities": [v1.entity("m")]},
            "ai_gateway": {
                "rate_limits": [{"calls": 100, "key": "endpoint", "renewal_period": "minute"}]
            },
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["ai_gateway"]["rate_limits"][0]["calls"] == 100
    gateway.wait_for("limited")
    url = f"{gateway.url}/serving-endpoints/limited/invocations"
    body = {"dataframe_records": json.loads(v1.sample.head(1).to_json(orient="records"))}

    outcome, seconds = burst(url, body, [gateway.token], 300)
    print(f"endpoint limit 100/min, 300 requests from 8 threads in {seconds:.1f}s: {outcome}")
    assert_within_limit(outcome[200], 100, seconds)

    # Per user, through the deprecated route: each user gets their own 30.
    tokens = [user_token(gateway, f"limited-{n}@example.com") for n in range(3)]
    eid = created.json()["id"]
    gateway.api(
        "PATCH",
        f"/api/2.0/permissions/serving-endpoints/{eid}",
        json={
            "access_control_list": [
                {"user_name": f"limited-{n}@example.com", "permission_level": "CAN_QUERY"}
                for n in range(3)
            ]
        },
    )
    put = gateway.api(
        "PUT",
        f"{BASE}/limited/rate-limits",
        json={"rate_limits": [{"calls": 30, "key": "user", "renewal_period": "minute"}]},
    )
    assert put.json() == {"rate_limits": [{"calls": 30, "key": "user", "renewal_period": "minute"}]}
    shown = gateway.api("GET", f"{BASE}/limited").json()["ai_gateway"]["rate_limits"]
    assert shown == [{"calls": 30, "key": "user", "renewal_period": "minute"}]
    time.sleep(1)  # the reconciler publishes the new limits
    outcome, seconds = burst(url, body, tokens, 240)
    print(f"per-user limit 30/min, 3 users, 240 requests in {seconds:.1f}s: {outcome}")
    assert_within_limit(outcome[200], 90, seconds)

    bad = gateway.api(
        "PUT",
        f"{BASE}/limited/rate-limits",
        json={"rate_limits": [{"calls": 5, "renewal_period": "hour"}]},
    )
    assert bad.status_code == 400 and "renewal_period" in bad.json()["message"]
    bad = gateway.api(
        "PUT",
        f"{BASE}/limited/ai-gateway",
        json={"rate_limits": [{"calls": 5, "key": "user_group"}]},
    )
    assert bad.status_code == 400 and "principal" in bad.json()["message"]
    gateway.api("DELETE", f"{BASE}/limited")
