"""The audit log: control-plane changes and refused requests, for administrators."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from tests.e2e.gateway_process import GatewayProcess


def test_changes_and_refusals_are_audited(gateway: GatewayProcess) -> None:
    requests.get(
        f"{gateway.url}/api/2.0/serving-endpoints",
        headers={"Authorization": "Bearer sgt_wrong"},
        timeout=30,
    )
    requests.post(
        f"{gateway.url}/serving-endpoints/audit-missing/invocations",
        headers={"Authorization": "Bearer sgt_wrong"},
        json={"inputs": [1]},
        timeout=30,
    )
    gateway.api("PATCH", "/api/2.0/serving-endpoints/audit-missing/tags", json={})
    gateway.create_user("audited@example.com")
    made, _ = gateway.token_for("audited@example.com")
    refused = requests.get(
        f"{gateway.url}/api/2.0/audit/events",
        headers={"Authorization": f"Bearer {made}"},
        timeout=30,
    )
    assert refused.status_code == 403

    events = gateway.api("GET", "/api/2.0/audit/events", params={"limit": 10000}).json()["events"]
    seen = {(e["principal"], e["method"], e["path"], e["status"]) for e in events}
    assert (None, "GET", "/api/2.0/serving-endpoints", 401) in seen
    assert (None, "POST", "/serving-endpoints/audit-missing/invocations", 401) in seen
    assert ("admin", "PATCH", "/api/2.0/serving-endpoints/audit-missing/tags", 404) in seen
    assert ("admin", "POST", "/api/2.0/preview/scim/v2/Users", 201) in seen
    assert ("audited@example.com", "GET", "/api/2.0/audit/events", 403) in seen
    assert all(e["client"].startswith("127.0.0.1:") for e in events)
    assert not any(e["method"] == "GET" and e["status"] == 200 for e in events), (
        "reads are not audited"
    )

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "audit",
            "--json",
            "--url",
            gateway.url,
            "--token",
            gateway.token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    assert any(e["path"] == "/api/2.0/preview/scim/v2/Users" for e in json.loads(shown.stdout))
