"""A real one-node Ray cluster for end-to-end tests, on loopback only.

Ray picks the machine's own address even when given 127.0.0.1 (``--node-ip-address`` is
"resolved" to a reachable IP), and its servers then listen on every interface. Its
single-node mode, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (the default on macOS and
Windows), keeps the node's address at 127.0.0.1 and every server bound to it; ``sockets``
and ``leaks`` let a test check that with ``ss``.

``ray start --block`` runs in a session of its own: every Ray process starts in it, so the
cluster is stopped by signalling those processes by id, never by name.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ports import free_port

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
RAY = str(Path(sys.executable).parent / "ray")
LOOPBACK_HOSTS = {"127.0.0.1", "::ffff:127.0.0.1"}
_CPUS = 2
_STARTED = "Ray runtime started"
_CONNECT = """
import json, logging, ray
ray.init(address={address!r}, logging_level=logging.ERROR, log_to_driver=False)
"""
_CPUS_SCRIPT = _CONNECT + "print(json.dumps(ray.cluster_resources().get('CPU', 0)))"
_STATUS_SCRIPT = (
    _CONNECT
    + """
from ray import serve
print(json.dumps({{
    name: {{
        "status": str(app.status.value),
        "replicas": {{d: s.replica_states for d, s in app.deployments.items()}},
    }}
    for name, app in serve.status().applications.items()
}}))
"""
)


@dataclass
class LocalRay:
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sg-ray-")))
    gcs_port: int = field(default_factory=free_port)
    serve_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def client_env(self) -> dict[str, str]:
        """What a process joining the cluster needs: loopback, and the cluster's token
        (set, so a token another cluster left in ~/.ray does not decide)."""
        return {**LOOPBACK_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.client_env}

    @property
    def log_path(self) -> Path:
        return self.temp_dir / "ray-start.log"

    def start(self, timeout: float = 120) -> LocalRay:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> LocalRay:
        self.process = subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={self.gcs_port}",
                f"--ray-client-server-port={free_port()}",
                "--include-dashboard=false",
                "--dashboard-host=127.0.0.1",
                f"--num-cpus={_CPUS}",
                "--object-store-memory=200000000",
                "--disable-usage-stats",
                f"--temp-dir={self.temp_dir}",
            ],
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while _STARTED not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        # The head node schedules work only once its resources reached the GCS.
        while self._driver(_CPUS_SCRIPT) < _CPUS:
            if time.monotonic() > deadline:
                raise RuntimeError("Ray's head node never offered its CPUs")
            time.sleep(0.5)
        return self

    def pids(self) -> set[int]:
        """Every live process of this cluster (its session)."""
        if self.process is None:
            return set()
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == self.process.pid:
                        found.add(int(entry))
                except OSError:
                    continue
        return found

    def stop(self, timeout: float = 60) -> None:
        """``ray start --block`` stops the cluster on SIGTERM; what outlives it is killed, and
        its files (logs included) go."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in self.pids():
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def applications(self) -> dict[str, dict]:
        """Ray Serve's applications: name → status and replica states per deployment."""
        answer: dict[str, dict] = self._driver(_STATUS_SCRIPT)
        return answer

    def _driver(self, script: str) -> Any:
        """What ``script`` prints last, as JSON, run by a short-lived driver (so this test
        process never joins the cluster)."""
        done = subprocess.run(
            [sys.executable, "-c", script.format(address=self.address)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


_USERS = re.compile(r"pid=(\d+)")


def sockets() -> list[tuple[str, str, str, set[int], str]]:
    """Every TCP and UDP socket of the machine: (state, local, peer, owning pids, owners
    as ss shows them)."""
    listing = subprocess.run(
        ["ss", "-tuanpH"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 6:
            continue
        owners = " ".join(parts[6:])
        found.append(
            (parts[1], parts[4], parts[5], {int(p) for p in _USERS.findall(owners)}, owners)
        )
    return found


def _host(address: str) -> str:
    host = address.rsplit(":", 1)[0]
    return host.strip("[]").split("%")[0]


def leaks(pids: set[int]) -> list[str]:
    """The sockets of ``pids`` bound or connected to anything but 127.0.0.1."""
    bad = []
    for state, local, peer, owners, users in sockets():
        if not owners & pids:
            continue
        if (
            _host(local) not in LOOPBACK_HOSTS
            or state not in ("LISTEN", "UNCONN")
            and _host(peer) not in LOOPBACK_HOSTS
        ):
            bad.append(f"{state} {local} {peer} {users}")
    return bad
