"""``servegate deploy k8s`` reading endpoints from a running gateway, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from servegate.deploy.naming import served_model_name
from tests.deploy.conftest import by_kind, manifests_in, validate_strictly
from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess


def deploy_k8s(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servegate", "deploy", "k8s", *args, "--url", gateway.url],
        env={"SERVEGATE_TOKEN": gateway.token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manifests_from_the_gateways_endpoints(
    gateway: GatewayProcess, sklearn_versions: list[Registered], tmp_path: Path
) -> None:
    first, second = sklearn_versions
    gateway.create(
        "deploy-split",
        [first.entity("old"), {**second.entity("new"), "workload_size": "Medium"}],
        [
            {"served_model_name": "old", "traffic_percentage": 80},
            {"served_model_name": "new", "traffic_percentage": 20},
        ],
    )
    done = deploy_k8s(gateway, "deploy-split", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    objects = [m for ms in manifests_in(tmp_path).values() for m in ms]
    for manifest in objects:
        validate_strictly(manifest)
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    new = deployments[served_model_name("deploy-split", "new")]
    command = new["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[2] == second.uri
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    (config,) = [
        m for m in by_kind(objects, "ConfigMap") if m["metadata"]["name"] == ("servegate-routes")
    ]
    routes = json.loads(config["data"]["routes.json"])["endpoints"]["deploy-split"]["routes"]
    assert [(r["served_model_name"], r["traffic_percentage"], r["model_uri"]) for r in routes] == [
        ("old", 80, first.uri),
        ("new", 20, second.uri),
    ]
    assert yaml.safe_load((tmp_path / "kustomization.yaml").read_text())["resources"] == [
        "gateway.yaml",
        "endpoint-deploy-split.yaml",
    ]


def test_an_unknown_endpoint_is_the_gateways_404(gateway: GatewayProcess, tmp_path: Path) -> None:
    done = deploy_k8s(gateway, "no-such-endpoint", "-o", str(tmp_path))
    assert done.returncode == 1
    assert "RESOURCE_DOES_NOT_EXIST" in done.stdout + done.stderr
