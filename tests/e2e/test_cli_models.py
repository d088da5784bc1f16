"""``servegate models enable|status|disable`` against a running gateway."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests import models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess


def cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "models",
            *args,
            "--url",
            gateway.url,
            "--token",
            gateway.token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_models_commands(gateway: GatewayProcess) -> None:
    register_into(gateway, lambda: models.register_sklearn("cli-model", c=1.0))
    enabled = cli(gateway, "enable", "cli-model")
    assert enabled.returncode == 0, enabled.stderr
    assert "/model/cli-model/" in enabled.stdout

    deadline = time.monotonic() + 120
    while True:
        shown = cli(gateway, "status", "cli-model", "--json")
        assert shown.returncode == 0, shown.stderr
        found = json.loads(shown.stdout)
        if found["endpoint_status"]["state"] == "ENDPOINT_STATE_READY":
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    assert [v["endpoint_version_name"] for v in found["endpoint_versions"]] == ["1"]
    table = cli(gateway, "status", "cli-model")
    assert "VERSION_STATE_READY" in table.stdout

    missing = cli(gateway, "status", "not-enabled-model")
    assert missing.returncode == 1
    assert "not enabled" in missing.stdout

    assert cli(gateway, "disable", "cli-model").returncode == 0
    assert cli(gateway, "status", "cli-model").returncode == 1

    wrong_token = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "models",
            "status",
            "cli-model",
            "--url",
            gateway.url,
            "--token",
            "wrong",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong_token.returncode == 1 and "UNAUTHENTICATED" in wrong_token.stdout
