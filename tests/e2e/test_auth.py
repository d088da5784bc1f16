"""Every route but health checks needs the token; the admin token is created and kept safely."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import requests

from tests.e2e.gateway_process import GatewayProcess

PROTECTED = [
    ("GET", "/api/2.0/serving-endpoints"),
    ("POST", "/api/2.0/serving-endpoints"),
    ("POST", "/serving-endpoints/x/invocations"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    ("GET", "/api/2.0/mlflow/experiments/search?max_results=1"),
    ("GET", "/static-files/favicon.ico"),
    ("GET", "/ui/rest/api/2.0/serving-endpoints"),
    ("POST", "/mlflow/api/2.0/mlflow/registered-models/create"),
]


def test_no_token_no_entry(gateway: GatewayProcess) -> None:
    for method, path in PROTECTED:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic !!"}):
            response = requests.request(method, gateway.url + path, headers=headers, timeout=10)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert requests.get(f"{gateway.url}/health", timeout=10).status_code == 200
    home = requests.get(f"{gateway.url}/", timeout=10)  # the web UI asks to sign in
    assert home.url == f"{gateway.url}/ui/sign-in?next=/ui/"
    assert "Access token" in home.text
    assert requests.get(f"{gateway.url}/.well-known/databricks-config", timeout=10).json() == {}


def test_bearer_and_basic_accepted(gateway: GatewayProcess) -> None:
    basic = base64.b64encode(f"token:{gateway.token}".encode()).decode()
    for headers in (gateway.headers, {"Authorization": f"Basic {basic}"}):
        response = requests.get(
            f"{gateway.url}/api/2.0/serving-endpoints", headers=headers, timeout=10
        )
        assert response.status_code == 200


def test_admin_token_file_is_private(gateway: GatewayProcess) -> None:
    token_file = gateway.home / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == gateway.token
    assert gateway.token.encode() not in (gateway.home / "servegate.db").read_bytes()
    assert "Created the admin token" in gateway.log_path.read_text()


def test_admin_token_from_environment(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "home", env={"SERVEGATE_ADMIN_TOKEN": "s3cret-token-1"})
    gateway.start()
    try:
        ok = requests.get(
            f"{gateway.url}/api/2.0/serving-endpoints",
            headers={"Authorization": "Bearer s3cret-token-1"},
            timeout=10,
        )
        assert ok.status_code == 200
        assert not (gateway.home / "admin-token").exists()
    finally:
        gateway.stop()
