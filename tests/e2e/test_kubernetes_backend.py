"""The gateway's Kubernetes backend, with the one thing no test machine has stood in for.

In a cluster, ``servegate deploy k8s`` writes a Deployment and a Service per served model and
a ``routes.json`` naming each Service's URL; the gateway (``--backend kubernetes``) routes to
those URLs. Here the pods are real ``servegate replica`` processes, started exactly as the
manifests start them (the gateway's registry as MLFLOW_TRACKING_URI), and the routes file is
the one ``servegate deploy k8s`` wrote, with each in-cluster Service URL replaced by its
process's loopback address: what cluster DNS and the Service would have done.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from servegate.deploy.naming import served_model_name
from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.ports import free_port, wait_listening

BASE = "/api/2.0/serving-endpoints"


class Pod:
    """A replica process as a served model's pod runs it."""

    def __init__(self, gateway: GatewayProcess, model: Registered) -> None:
        self.gateway, self.model = gateway, model
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Pod:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.gateway.url,
            "MLFLOW_TRACKING_TOKEN": self.gateway.token,
        }
        command = ["replica", self.model.uri, "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "servegate", *command, "--concurrency", "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.url, self.process)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[GatewayProcess, Path]]:
    """A gateway with the Kubernetes backend and the routes file it reads (not written yet)."""
    routes = tmp_path / "routes.json"
    gateway = GatewayProcess(
        tmp_path / "home", args=["--backend", "kubernetes", "--routes-file", str(routes)]
    ).start()
    try:
        yield gateway, routes
    finally:
        gateway.stop()


def deploy(tmp_path: Path, endpoints: list[dict], pods: dict[str, Pod], routes: Path) -> None:
    """``servegate deploy k8s`` for these endpoints; its routes file, with each Service URL
    where its pod listens."""
    source = tmp_path / "endpoints.yaml"
    source.write_text(yaml.safe_dump({"endpoints": endpoints}))
    out = tmp_path / "k8s"
    subprocess.run(
        [sys.executable, "-m", "servegate", "deploy", "k8s", "-f", str(source), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    config_maps = [m for m in yaml.safe_load_all((out / "gateway.yaml").read_text()) if m]
    routes_map = next(m for m in config_maps if m["metadata"]["name"] == "servegate-routes")
    document = json.loads(routes_map["data"]["routes.json"])
    for name, entry in document["endpoints"].items():
        for route in entry["routes"]:
            service = served_model_name(name, route["served_model_name"])
            assert route["url"] == f"http://{service}:8080"
            route["url"] = pods[route["served_model_name"]].url
    routes.write_text(json.dumps(document))


def test_the_gateway_routes_to_the_pods_of_its_served_models(
    cluster: tuple[GatewayProcess, Path], tmp_path: Path
) -> None:
    gateway, routes = cluster
    one = register_into(gateway, lambda: models.register_sklearn("k8s-logreg", c=1.0))
    two = register_into(gateway, lambda: models.register_sklearn("k8s-logreg", c=0.01))
    pods = {"a": Pod(gateway, one).start(), "b": Pod(gateway, two).start()}
    try:
        config = {
            "served_entities": [one.entity("a"), two.entity("b")],
            "traffic_config": {
                "routes": [
                    {"served_model_name": "a", "traffic_percentage": 80},
                    {"served_model_name": "b", "traffic_percentage": 20},
                ]
            },
        }
        deploy(tmp_path, [{"name": "split", "config": config}], pods, routes)
        created = gateway.api("POST", BASE, json={"name": "split", "config": config})
        assert created.status_code == 200, created.text
        ready = gateway.wait_for("split", timeout=60)
        assert {e["state"]["deployment"] for e in ready["config"]["served_entities"]} == {
            "DEPLOYMENT_READY"
        }

        rows = json.loads(one.sample.head(2).to_json(orient="records"))
        body = {"dataframe_records": rows}
        direct = {
            name: requests.post(f"{pod.url}/invocations", json=body, timeout=30).json()
            for name, pod in pods.items()
        }
        served: Counter[str] = Counter()
        for _ in range(200):
            answer = gateway.api("POST", "/serving-endpoints/split/invocations", json=body)
            assert answer.status_code == 200, answer.text
            name = answer.headers["served-model-name"]
            served[name] += 1
            assert answer.json() == direct[name]
        assert 120 <= served["a"] <= 190 and served["a"] + served["b"] == 200, served

        # A pod that dies: its served model recovers once another answers at its Service.
        pods["b"].kill()
        wait_for_state(gateway, "split", "b", "DEPLOYMENT_RECOVERING")
        events = gateway.api("GET", f"{BASE}/split/events").json()["events"]
        assert any("stopped answering /ping" in e["message"] for e in events), events
        pods["b"] = Pod(gateway, two)
        pods["b"].port = int(routes_url_port(routes, "split", "b"))
        pods["b"].start()
        wait_for_state(gateway, "split", "b", "DEPLOYMENT_READY")
        answer = gateway.api(
            "POST", "/serving-endpoints/split/served-models/b/invocations", json=body
        )
        assert answer.status_code == 200 and answer.json() == direct["b"]

        # An update the manifests do not have yet fails, and the old config keeps serving.
        newer = {"served_entities": [two.entity("a")]}
        updated = gateway.api("PUT", f"{BASE}/split/config", json=newer)
        assert updated.status_code == 200, updated.text
        failed = gateway.wait_for("split", ready=False, timeout=60)
        assert failed["state"]["config_update"] == "UPDATE_FAILED"
        message = failed["pending_config"]["served_entities"][0]["state"][
            "deployment_state_message"
        ]
        assert (
            f"serves models:/{one.name}/{one.version}, not models:/{two.name}/{two.version}"
            in message
        )
        assert "servegate deploy k8s split" in message
        again = gateway.api("POST", "/serving-endpoints/split/invocations", json=body)
        assert again.status_code == 200

        # An endpoint no manifest was written for: failed, saying what to run.
        lonely = gateway.api(
            "POST", BASE, json={"name": "lonely", "config": {"served_entities": [one.entity("m")]}}
        )
        assert lonely.status_code == 200, lonely.text
        state = gateway.wait_for("lonely", ready=False, timeout=60)
        entity = state["pending_config"]["served_entities"][0]
        assert entity["state"]["deployment"] == "DEPLOYMENT_FAILED"
        assert (
            "No replica Service for served model 'm' of 'lonely'"
            in entity["state"]["deployment_state_message"]
        )
    finally:
        for pod in pods.values():
            if pod.process is not None and pod.process.poll() is None:
                pod.process.terminate()
                pod.process.wait(30)


def routes_url_port(routes: Path, endpoint: str, served: str) -> str:
    document = json.loads(routes.read_text())
    url = next(
        r["url"]
        for r in document["endpoints"][endpoint]["routes"]
        if r["served_model_name"] == served
    )
    return url.rpartition(":")[2]


def wait_for_state(
    gateway: GatewayProcess, endpoint: str, served: str, state: str, timeout: float = 60
) -> dict:
    deadline = time.monotonic() + timeout
    entity: dict = {}
    while time.monotonic() < deadline:
        body = gateway.api("GET", f"{BASE}/{endpoint}").json()
        entity = next(e for e in body["config"]["served_entities"] if e["name"] == served)
        if entity["state"]["deployment"] == state:
            return entity
        time.sleep(0.2)
    raise AssertionError(f"{served} never {state}: {entity}")
