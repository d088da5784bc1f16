"""``servegate endpoints ...`` end to end: create from a YAML file, wait, query, update, delete,
with the exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.e2e import special_models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_databricks_sdk import expected


def endpoints(
    gateway: GatewayProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servegate", "endpoints", *args]
        + ["--url", gateway.url, "--token", gateway.token],
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin,
        env={**os.environ, "COLUMNS": "250"},  # tables as wide as they need
    )


def test_create_from_yaml_wait_query_update_delete(
    gateway: GatewayProcess, sklearn_versions: list[Registered], tmp_path: Path
) -> None:
    v1, v2 = sklearn_versions
    spec = tmp_path / "endpoint.yaml"
    spec.write_text(
        f"""\
name: cli-yaml
config:
  served_entities:
    - name: current
      entity_name: {v1.name}
      entity_version: "{v1.version}"
      workload_size: Small
tags:
  - key: team
    value: risk
"""
    )
    made = endpoints(gateway, "create", "cli-yaml", "--file", str(spec), "-o", "json")
    assert made.returncode == 0, made.stdout + made.stderr
    created = json.loads(made.stdout)
    assert created["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert {"key": "team", "value": "risk"} in created["tags"]

    body = json.dumps({"dataframe_split": json.loads(v1.sample.to_json(orient="split"))})
    answered = endpoints(gateway, "query", "cli-yaml", "--data", body)
    assert answered.returncode == 0, answered.stderr
    assert np.allclose(json.loads(answered.stdout)["predictions"], expected(gateway, v1))
    assert "served-model-name: current" in answered.stderr
    rows = tmp_path / "rows.csv"
    v1.sample.to_csv(rows, index=False)
    from_csv = endpoints(gateway, "query", "cli-yaml", "--file", str(rows))
    assert np.allclose(json.loads(from_csv.stdout)["predictions"], expected(gateway, v1))
    from_stdin = endpoints(gateway, "query", "cli-yaml", "--file", "-", stdin=body)
    assert json.loads(from_stdin.stdout) == json.loads(answered.stdout)

    moved = endpoints(
        gateway, "update", "cli-yaml", "--model", v2.name, "--version", v2.version,
        "--served-name", "next", "--env", "GREETING=hi", "--no-wait",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stdout
    waited = endpoints(gateway, "wait", "cli-yaml")
    assert waited.returncode == 0 and "cli-yaml is ready" in waited.stdout
    shown = endpoints(gateway, "get", "cli-yaml")
    assert shown.returncode == 0 and "next" in shown.stdout and "DEPLOYMENT_READY" in shown.stdout
    listed = json.loads(endpoints(gateway, "list", "--json").stdout)
    assert "cli-yaml" in [e["name"] for e in listed]
    again = endpoints(gateway, "query", "cli-yaml", "--data", body)
    assert np.allclose(json.loads(again.stdout)["predictions"], expected(gateway, v2))

    assert endpoints(gateway, "delete", "cli-yaml").returncode == 0
    gone = endpoints(gateway, "get", "cli-yaml")
    assert gone.returncode == 1 and "does not exist" in gone.stdout


def test_exit_codes_for_failures_timeouts_and_usage(
    gateway: GatewayProcess, sklearn_versions: list[Registered], tmp_path: Path
) -> None:
    broken = register_into(gateway, lambda: special_models.register_broken("cli-broken"))
    failed = endpoints(
        gateway, "create", "cli-broken", "--model", broken.name, "--version", broken.version
    )
    assert failed.returncode == 1, failed.stdout
    assert "broken on purpose" in failed.stdout and "failed" in failed.stdout

    slow = register_into(gateway, lambda: special_models.register_slow_to_load("cli-slow"))
    timed_out = endpoints(
        gateway, "create", "cli-slow", "--model", slow.name, "--version", slow.version,
        "--env", "LOAD_SECONDS=30", "--timeout", "1",
    )  # fmt: skip
    assert timed_out.returncode == 3, timed_out.stdout
    assert "still updating after 1s" in timed_out.stdout

    v1, _ = sklearn_versions
    assert endpoints(gateway, "create", "nothing").returncode == 2
    bad_env = endpoints(
        gateway, "create", "x", "--model", v1.name, "--version", v1.version, "--env", "NOEQUALS"
    )
    assert bad_env.returncode == 2 and "KEY=VALUE" in bad_env.stdout
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "someone-else", "config": {"served_entities": []}}))
    mismatch = endpoints(gateway, "create", "mine", "--file", str(other))
    assert mismatch.returncode == 2 and "someone-else" in mismatch.stdout
    refused = endpoints(gateway, "create", "Bad Name!", "--model", v1.name, "--version", "1")
    assert refused.returncode == 1 and "INVALID_PARAMETER_VALUE" in refused.stdout
    assert endpoints(gateway, "query", "cli-slow").returncode == 2
    for name in ("cli-broken", "cli-slow"):
        gateway.api("DELETE", f"/api/2.0/serving-endpoints/{name}")
