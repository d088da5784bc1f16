"""``servegate replica`` on its own: a drop-in for ``mlflow models serve``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess, free_port
from tests.e2e.processes import alive
from tests.ports import wait_listening


def registry_env(gateway: GatewayProcess) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": gateway.url,
        "MLFLOW_TRACKING_TOKEN": gateway.token,
    }


@pytest.fixture(scope="module")
def custom_replica(gateway: GatewayProcess, custom_model: Registered) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "servegate", "replica", custom_model.uri, "--port", str(port)],
        env=registry_env(gateway),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_listening(url, process)
    yield url
    process.terminate()
    process.wait(30)


def test_scoring_server_routes(custom_replica: str) -> None:
    assert requests.get(f"{custom_replica}/ping", timeout=5).text == "\n"
    assert requests.get(f"{custom_replica}/health", timeout=5).status_code == 200
    assert requests.get(f"{custom_replica}/version", timeout=5).text == mlflow.__version__


def test_params_and_tensor_formats(
    gateway: GatewayProcess, custom_replica: str, custom_model: Registered
) -> None:
    sample = custom_model.sample.head(5)
    url = f"{custom_replica}/invocations"
    plain = requests.post(
        url, json={"dataframe_split": json.loads(sample.to_json(orient="split"))}, timeout=30
    ).json()["predictions"]
    doubled = requests.post(
        url,
        json={
            "dataframe_split": json.loads(sample.to_json(orient="split")),
            "params": {"multiplier": 2.0},
        },
        timeout=30,
    ).json()["predictions"]
    assert [row["score"] * 2 for row in plain] == pytest.approx([row["score"] for row in doubled])
    for body in (
        {"instances": json.loads(sample.to_json(orient="records"))},
        {"inputs": {name: column.tolist() for name, column in sample.items()}},
    ):
        response = requests.post(url, json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == plain
    bad = requests.post(
        url,
        json={
            "dataframe_split": json.loads(sample.to_json(orient="split")),
            "params": {"multiplier": "lots"},
        },
        timeout=30,
    )
    assert bad.status_code == 400 and "multiplier" in bad.json()["message"]


def test_load_failure_exits_and_explains(gateway: GatewayProcess, tmp_path: Path) -> None:
    build_log = tmp_path / "build.log"
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "servegate",
            "replica",
            "models:/no-such-model/1",
            "--port",
            str(port),
            "--build-log",
            str(build_log),
        ],
        env=registry_env(gateway),
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "failed to load models:/no-such-model/1" in build_log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/ping", timeout=2)


def test_replica_dies_with_its_parent(
    gateway: GatewayProcess, custom_model: Registered, tmp_path: Path
) -> None:
    """A replica started by a parent that then dies does not stay behind."""
    pid_file = tmp_path / "replica.pid"
    launcher = (
        "import subprocess, sys, os, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'servegate', 'replica', {custom_model.uri!r},"
        f" '--port', '{free_port()}', '--parent-pid', str(os.getpid())])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", launcher],
        env=registry_env(gateway),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    replica = int(pid_file.read_text())
    time.sleep(1)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while alive(replica) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(replica)
