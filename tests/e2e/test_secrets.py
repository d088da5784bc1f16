"""Secrets: stored encrypted, referenced from environment_vars, seen only by the replica."""

from __future__ import annotations

import secrets as random_secrets
from pathlib import Path

from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.special_models import register_environment_echo

SECRETS = "/api/2.0/secrets"


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_secret_reaches_only_the_replica(gateway: GatewayProcess) -> None:
    value = f"s3cr3t-{random_secrets.token_hex(8)}"
    assert gateway.api("POST", f"{SECRETS}/scopes/create", json={"scope": "app"}).ok
    again = gateway.api("POST", f"{SECRETS}/scopes/create", json={"scope": "app"})
    assert again.status_code == 409
    assert gateway.api(
        "POST", f"{SECRETS}/put", json={"scope": "app", "key": "greeting", "string_value": value}
    ).ok
    listed = gateway.api("GET", f"{SECRETS}/list", params={"scope": "app"})
    assert [s["key"] for s in listed.json()["secrets"]] == ["greeting"]
    assert value not in listed.text
    scopes = gateway.api("GET", f"{SECRETS}/scopes/list").json()["scopes"]
    assert {"name": "app", "backend_type": "DATABRICKS"} in scopes

    echo = register_into(gateway, lambda: register_environment_echo("secret-echo"))
    reference = "{{secrets/app/greeting}}"
    missing = gateway.api(
        "POST",
        "/api/2.0/serving-endpoints",
        json={
            "name": "secretive",
            "config": {
                "served_entities": [
                    {**echo.entity("m"), "environment_vars": {"GREETING": "{{secrets/app/nope}}"}}
                ]
            },
        },
    )
    assert missing.status_code == 400 and "app/nope" in missing.json()["message"]
    created = gateway.api(
        "POST",
        "/api/2.0/serving-endpoints",
        json={
            "name": "secretive",
            "config": {
                "served_entities": [
                    {**echo.entity("m"), "environment_vars": {"GREETING": reference}}
                ]
            },
        },
    )
    assert created.status_code == 200, created.text
    ready = gateway.wait_for("secretive")
    assert ready["config"]["served_entities"][0]["environment_vars"] == {"GREETING": reference}
    answer = gateway.api(
        "POST", "/serving-endpoints/secretive/invocations", json={"dataframe_records": [{"x": 1.0}]}
    )
    assert answer.json() == {"predictions": [value]}, "the replica sees the value"

    responses = [
        gateway.api("GET", "/api/2.0/serving-endpoints/secretive").text,
        gateway.api("GET", "/api/2.0/serving-endpoints").text,
        gateway.api("GET", "/api/2.0/serving-endpoints/secretive/served-models/m/logs").text,
        gateway.api("GET", "/api/2.0/serving-endpoints/secretive/served-models/m/build-logs").text,
        gateway.api("GET", "/api/2.0/audit/events").text,
    ]
    assert not [r for r in responses if value in r]
    assert files_containing(gateway.home, value.encode()) == [], "never on disk in clear"

    assert gateway.api("POST", f"{SECRETS}/delete", json={"scope": "app", "key": "greeting"}).ok
    assert (
        gateway.api(
            "POST", f"{SECRETS}/delete", json={"scope": "app", "key": "greeting"}
        ).status_code
        == 404
    )
    gateway.api("DELETE", "/api/2.0/serving-endpoints/secretive")
