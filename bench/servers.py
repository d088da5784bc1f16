"""The servers the benchmark compares, each started as its users would start it, on 127.0.0.1.

- ``mlflow``: ``mlflow models serve --workers 2`` (the peer).
- ``replica``: ``servegate replica`` on a port (servegate's replica, directly).
- ``gateway``: ``servegate serve`` with an endpoint serving the model (the full data plane)
  on one replica, and a second endpoint with scale to zero, for the time from zero to a first
  prediction.
- ``gateway-2``: the same with two replicas, as mlflow serve runs two workers.
- ``floor``: a minimal uvicorn app calling the estimator's own predict (2 workers).
- ``hop-floor``: a bare uvicorn proxy in front of a replica (``bench.hop_floor``): the least a
  gateway's hop can cost here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

SERVERS = ("mlflow", "replica", "gateway", "gateway-2", "floor", "hop-floor")
GATEWAY_REPLICAS = {"gateway": 1, "gateway-2": 2}
IDLE_S = 3  # the gateway's scale-to-zero idle time, so the wake can be measured soon
FLOOR_APP = Path(__file__).with_name("floor_server.py")
HOP_FLOOR = Path(__file__).with_name("hop_floor.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    cold_start_s: float = 0.0

    def pids(self) -> list[int]:
        """The server and every process under it (workers, replicas)."""
        return process_tree(self.process.pid)


def process_tree(root: int) -> list[int]:
    """A process and every process under it."""
    found, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        for child in _children(parent):
            found.append(child)
            frontier.append(child)
    return found


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        children += [int(child) for child in text.split()]
    return children


def _command(name: str, model_uri: str, port: int, work: Path) -> list[str]:
    python = sys.executable
    if name == "mlflow":
        return [
            python,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            model_uri,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--workers",
            "2",
            "--env-manager",
            "local",
        ]
    if name == "replica":
        return [
            python,
            "-m",
            "servegate",
            "replica",
            model_uri,
            "--port",
            str(port),
            "--concurrency",
            "8",
        ]
    if name == "hop-floor":
        return [python, str(HOP_FLOOR), model_uri, str(port), str(work)]
    if name == "floor":
        return [
            python,
            "-m",
            "uvicorn",
            "floor_server:app",
            "--app-dir",
            str(FLOOR_APP.parent),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ]
    return [
        python,
        "-m",
        "servegate",
        "serve",
        "--port",
        str(port),
        "--home",
        str(work / f"home-{port}"),
        "--registry-uri",
        os.environ["MLFLOW_TRACKING_URI"],
    ]


@contextmanager
def running(
    name: str, model_uri: str, body: bytes, work: Path, timeout_s: float = 300
) -> Iterator[Running]:
    """Start one server, wait for its first correct prediction (the cold start), stop it after."""
    port = free_port()
    # mlflow serve runs `uvicorn` from PATH: make it this environment's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        "BENCH_MODEL_URI": model_uri,
        "PATH": path,
        "SERVEGATE_SCALE_TO_ZERO_IDLE_S": str(IDLE_S),
    }
    log = (work / f"{name}.log").open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        _command(name, model_uri, port, work),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Running(name, process, f"http://127.0.0.1:{port}/invocations")
    try:
        if name in GATEWAY_REPLICAS:
            replicas = GATEWAY_REPLICAS[name]
            _serve_endpoint(server, port, model_uri, replicas, work, started + timeout_s)
        _first_prediction(server, body, started + timeout_s)
        server.cold_start_s = time.monotonic() - started
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _serve_endpoint(
    server: Running, port: int, model_uri: str, replicas: int, work: Path, deadline: float
) -> None:
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        _check_alive(server, deadline)
        time.sleep(0.05)
    token = (work / f"home-{port}" / "admin-token").read_text().strip()
    server.headers = {"Authorization": f"Bearer {token}"}
    name, version = model_uri.removeprefix("models:/").split("/")
    # A replica answers 4 requests at once (its slots): a provisioned concurrency of 4 per
    # replica, as low as high, runs exactly that many (4 is workload_size Small: one).
    measured = {
        "min_provisioned_concurrency": 4 * replicas,
        "max_provisioned_concurrency": 4 * replicas,
    }
    for endpoint, sizing in (
        ("bench", measured),
        ("sleepy", {"workload_size": "Small", "scale_to_zero_enabled": True}),
    ):
        created = requests.post(
            f"{base}/api/2.0/serving-endpoints",
            headers=server.headers,
            timeout=60,
            json={
                "name": endpoint,
                "config": {
                    "served_entities": [{"entity_name": name, "entity_version": version, **sizing}]
                },
            },
        )
        created.raise_for_status()
    server.url = f"{base}/serving-endpoints/bench/invocations"
    while True:  # every replica up before the load starts (``config`` once it serves)
        endpoint = requests.get(
            f"{base}/api/2.0/serving-endpoints/bench", headers=server.headers, timeout=10
        ).json()
        entities = endpoint.get("config", {}).get("served_entities", [{}])
        if entities[0].get("scaling", {}).get("ready_replicas") == replicas:
            break
        _check_alive(server, deadline)
        time.sleep(0.2)


def wake_seconds(server: Running, body: bytes, timeout_s: float = 120) -> float:
    """On the gateway: once the scale-to-zero endpoint has no replica, the time one request
    takes while a replica starts for it (zero to first prediction)."""
    base = server.url.split("/serving-endpoints/")[0]
    deadline = time.monotonic() + timeout_s
    while True:
        endpoint = requests.get(
            f"{base}/api/2.0/serving-endpoints/sleepy", headers=server.headers, timeout=10
        ).json()
        if endpoint["config"]["served_entities"][0].get("scaling", {}).get("scaled_to_zero"):
            break
        _check_alive(server, deadline)
        time.sleep(0.2)
    time.sleep(1)  # the replica is told to stop; let it go
    headers = {**server.headers, "Content-Type": "application/json"}
    started = time.monotonic()
    answer = requests.post(
        f"{base}/serving-endpoints/sleepy/invocations", data=body, headers=headers, timeout=120
    )
    answer.raise_for_status()
    return time.monotonic() - started


def _first_prediction(server: Running, body: bytes, deadline: float) -> None:
    headers = {**server.headers, "Content-Type": "application/json"}
    while True:
        try:
            if requests.post(server.url, data=body, headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        _check_alive(server, deadline)
        time.sleep(0.02)


def _check_alive(server: Running, deadline: float) -> None:
    if server.process.poll() is not None:
        raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
    if time.monotonic() > deadline:
        raise RuntimeError(f"{server.name} did not answer in time")


def memory_mb(server: Running) -> dict[str, float]:
    """RSS and unique (private) memory of the server's whole process tree, in MB, and for
    servegate the unique memory of each replica process (what one more replica costs)."""
    return tree_memory_mb(server.pids())


def tree_memory_mb(pids: list[int]) -> dict[str, float]:
    """RSS and unique memory of these processes, in MB, and the mean unique memory of the
    servegate replicas among them."""
    rss = unique = 0
    replicas = []
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
        rss += fields.get("Rss", 0)
        private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
        unique += private
        if "servegate replica" in title:
            replicas.append(private)
    found = {"rss_mb": round(rss / 1024, 1), "unique_mb": round(unique / 1024, 1)}
    if replicas:
        found["replica_unique_mb"] = round(sum(replicas) / len(replicas) / 1024, 1)
    return found
