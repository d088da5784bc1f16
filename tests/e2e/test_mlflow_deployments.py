"""MLflow's deployments client and CLI with ``-t servegate://HOST:PORT``, and MLflow's own
Databricks deploy client pointed at servegate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow.deployments
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_databricks_sdk import expected


@pytest.fixture
def target(gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SERVEGATE_TOKEN", gateway.token)
    return f"servegate://127.0.0.1:{gateway.port}"


@pytest.fixture
def cleanup(gateway: GatewayProcess) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        gateway.api("DELETE", f"/api/2.0/serving-endpoints/{name}")


def test_the_deployments_client_manages_and_queries_servegate(
    target: str,
    gateway: GatewayProcess,
    sklearn_versions: list[Registered],
    cleanup: list[str],
) -> None:
    v1, v2 = sklearn_versions
    client = mlflow.deployments.get_deploy_client(target)
    cleanup.append("dep")
    created = client.create_deployment("dep", v1.uri, config={"workload_size": "Small"})
    assert created["name"] == "dep" and created["state"]["deployment"] == "DEPLOYMENT_READY"
    assert created["model_uri"] == v1.uri and created["traffic_percentage"] == 100

    answer = client.predict("dep", v1.sample)
    assert np.allclose(answer["predictions"], expected(gateway, v1))
    assert np.allclose(answer.get_predictions().iloc[:, 0], expected(gateway, v1))

    second = client.create_deployment(
        "canary", v2.uri, config={"traffic_percentage": "20"}, endpoint="dep"
    )
    assert second["traffic_percentage"] == 20
    shares = {d["name"]: d["traffic_percentage"] for d in client.list_deployments(endpoint="dep")}
    assert shares == {"dep": 80, "canary": 20}
    pinned = client.predict(deployment_name="canary", inputs=v2.sample, endpoint="dep")
    assert np.allclose(pinned["predictions"], expected(gateway, v2))

    moved = client.update_deployment("canary", v1.uri, endpoint="dep")
    assert moved["entity_version"] == v1.version and moved["traffic_percentage"] == 20
    client.delete_deployment("canary", endpoint="dep")
    assert [d["name"] for d in client.list_deployments(endpoint="dep")] == ["dep"]
    assert client.get_deployment("dep")["traffic_percentage"] == 100
    assert "dep" in [endpoint["name"] for endpoint in client.list_endpoints()]
    assert client.get_endpoint("dep")["state"]["ready"] == "READY"

    with pytest.raises(MlflowException, match="Unknown config key 'worklaod_size'"):
        client.create_deployment("typo", v1.uri, config={"worklaod_size": "Small"})
    with pytest.raises(MlflowException, match="register runs:/ models first"):
        client.create_deployment("from-run", "runs:/0123/model")
    with pytest.raises(MlflowException, match="does not exist"):
        client.get_deployment("nothing-here", endpoint="dep")
    with pytest.raises(MlflowException, match="last deployment"):
        client.delete_deployment("dep", endpoint="dep")

    client.delete_deployment("dep")
    assert "dep" not in [endpoint["name"] for endpoint in client.list_endpoints()]


def deployments_cli(target: str, token: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``mlflow deployments COMMAND -t TARGET ARGS...``, run as a user would."""

    def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlflow", "deployments", command, "-t", target, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SERVEGATE_TOKEN": token},
        )

    return run


def test_the_mlflow_deployments_cli(
    target: str,
    gateway: GatewayProcess,
    sklearn_versions: list[Registered],
    tmp_path: Path,
    cleanup: list[str],
) -> None:
    v1, _ = sklearn_versions
    cli = deployments_cli(target, gateway.token)
    helped = deployments_cli("servegate", gateway.token)("help")
    assert helped.returncode == 0 and "servegate://HOST:PORT" in helped.stdout

    cleanup.append("cli-dep")
    made = cli("create", "--name", "cli-dep", "-m", v1.uri, "-C", "workload_size=Small")
    assert made.returncode == 0, made.stderr
    inputs = tmp_path / "input.json"
    v1.sample.to_json(inputs)  # the CLI reads it with pandas.read_json
    output = tmp_path / "output.json"
    predicted = cli("predict", "--name", "cli-dep", "-I", str(inputs), "-O", str(output))
    assert predicted.returncode == 0, predicted.stderr
    assert np.allclose(json.loads(output.read_text())["predictions"], expected(gateway, v1))
    listed = cli("list")
    assert listed.returncode == 0 and "cli-dep" in listed.stdout
    described = cli("get", "--name", "cli-dep")
    assert described.returncode == 0 and "DEPLOYMENT_READY" in described.stdout

    # (MLflow 3.17's own create-endpoint command fails before it calls any target's client.)
    updated = cli(
        "update-endpoint", "--endpoint", "cli-dep",
        "-C", f"model_uri={v1.uri}", "-C", "scale_to_zero_enabled=true",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    shown = cli("get-endpoint", "--endpoint", "cli-dep")
    assert shown.returncode == 0 and "'scale_to_zero_enabled': True" in shown.stdout
    endpoints = cli("list-endpoints")
    assert endpoints.returncode == 0 and "cli-dep" in endpoints.stdout
    gateway.wait_for("cli-dep")

    bad = cli("create", "--name", "bad", "-m", v1.uri, "-C", "scale_to_zero_enabled=maybe")
    assert bad.returncode != 0 and "scale_to_zero_enabled='maybe' is not a bool" in bad.stderr
    gone = cli("delete", "--name", "cli-dep")
    assert gone.returncode == 0, gone.stderr
    missing = cli("get", "--name", "cli-dep")
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def test_mlflow_databricks_deploy_client_against_servegate(
    gateway: GatewayProcess,
    sklearn_versions: list[Registered],
    monkeypatch: pytest.MonkeyPatch,
    cleanup: list[str],
) -> None:
    v1, _ = sklearn_versions
    monkeypatch.setenv("DATABRICKS_HOST", gateway.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", gateway.token)
    client = mlflow.deployments.get_deploy_client("databricks")
    cleanup.append("dbx-endpoint")
    created = client.create_endpoint(
        config={
            "name": "dbx-endpoint",
            "config": {"served_entities": [{**v1.entity("m"), "workload_size": "Small"}]},
        }
    )
    assert created["name"] == "dbx-endpoint"
    gateway.wait_for("dbx-endpoint")
    assert client.get_endpoint("dbx-endpoint")["state"]["ready"] == "READY"
    assert "dbx-endpoint" in [e["name"] for e in client.list_endpoints()]
    rows = json.loads(v1.sample.to_json(orient="split", index=False))
    answer = client.predict(endpoint="dbx-endpoint", inputs={"dataframe_split": rows})
    assert np.allclose(answer["predictions"], expected(gateway, v1))
    client.delete_endpoint("dbx-endpoint")
    assert "dbx-endpoint" not in [e["name"] for e in client.list_endpoints()]
