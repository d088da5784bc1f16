"""``servegate users|groups|tokens|permissions`` against a running gateway."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess


def cli(
    gateway: GatewayProcess, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            *args,
            "--url",
            gateway.url,
            "--token",
            token or gateway.token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def test_access_commands(gateway: GatewayProcess, sklearn_versions: list[Registered]) -> None:
    assert cli(gateway, "users", "create", "cli-user@example.com").returncode == 0
    listed = cli(gateway, "users", "list")
    assert "cli-user@example.com" in listed.stdout
    assert cli(gateway, "groups", "create", "cli-team").returncode == 0
    assert cli(gateway, "groups", "add-member", "cli-team", "cli-user@example.com").returncode == 0

    made = cli(
        gateway,
        "tokens",
        "create",
        "--for",
        "cli-user@example.com",
        "--comment",
        "ci",
        "--lifetime",
        "600",
    )
    assert made.returncode == 0, made.stdout + made.stderr
    user_token = made.stdout.strip()
    assert user_token.startswith("sgt_")

    gateway.create("cli-acl", [sklearn_versions[0].entity("m")])
    url = f"{gateway.url}/serving-endpoints/cli-acl/invocations"
    body = {
        "dataframe_records": json.loads(
            sklearn_versions[0].sample.head(1).to_json(orient="records")
        )
    }
    headers = {"Authorization": f"Bearer {user_token}"}
    assert requests.post(url, json=body, headers=headers, timeout=60).status_code == 403
    granted = cli(
        gateway, "permissions", "grant", "cli-acl", "--group", "cli-team", "--level", "CAN_QUERY"
    )
    assert granted.returncode == 0, granted.stdout
    assert requests.post(url, json=body, headers=headers, timeout=60).status_code == 200
    shown = cli(gateway, "permissions", "show", "cli-acl")
    assert "cli-team" in shown.stdout and "CAN_QUERY" in shown.stdout

    mine = cli(gateway, "tokens", "list", "--json", token=user_token)
    [info] = json.loads(mine.stdout)
    assert info["comment"] == "ci" and user_token not in mine.stdout
    denied = cli(gateway, "users", "list", token=user_token)
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stdout
    assert cli(gateway, "tokens", "revoke", info["token_id"], token=user_token).returncode == 0
    assert requests.post(url, json=body, headers=headers, timeout=60).status_code == 401
    gateway.api("DELETE", "/api/2.0/serving-endpoints/cli-acl")
