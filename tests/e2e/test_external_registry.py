"""``--registry-uri`` serves models from an external MLflow registry instead of the embedded one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import requests

from tests import models
from tests.e2e.gateway_process import free_port


def test_external_registry(tmp_path: Path) -> None:
    registry = f"sqlite:///{tmp_path / 'external.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", registry)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(registry)
        try:
            uri, sample = models.register_sklearn("external-model", c=1.0)
        finally:
            mlflow.set_tracking_uri(previous)
    version = uri.rpartition("/")[2]

    port, home = free_port(), tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "servegate",
            "serve",
            "--port",
            str(port),
            "--home",
            str(home),
            "--registry-uri",
            registry,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and gateway.poll() is None
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {(home / 'admin-token').read_text().strip()}"}
        created = requests.post(
            f"{url}/api/2.0/serving-endpoints",
            headers=headers,
            json={
                "name": "ext",
                "config": {
                    "served_entities": [
                        {"entity_name": "external-model", "entity_version": version}
                    ]
                },
            },
            timeout=60,
        )
        assert created.status_code == 200, created.text
        deadline = time.monotonic() + 180
        while (
            requests.get(
                f"{url}/api/2.0/serving-endpoints/ext", headers=headers, timeout=10
            ).json()["state"]["ready"]
            != "READY"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        answer = requests.post(
            f"{url}/serving-endpoints/ext/invocations",
            headers=headers,
            timeout=30,
            json={"dataframe_split": json.loads(sample.to_json(orient="split"))},
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == len(sample)
        # No embedded registry is served in this mode.
        embedded = requests.get(
            f"{url}/api/2.0/mlflow/registered-models/search", headers=headers, timeout=10
        )
        assert embedded.status_code == 404
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(60)
