"""A real MLflow registry with three registered models, and real replica processes serving them.

Replicas are started once per session, all at the same time, so the suite pays for model
loading once and in parallel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest

from tests import models
from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0
SMALL_LIMIT_ROWS = 3
SMALL_LIMIT_BYTES = 1000


@dataclass(frozen=True)
class Registered:
    uri: str
    sample: pd.DataFrame


@dataclass
class Registry:
    tracking_uri: str
    root: Path
    models: dict[str, Registered] = field(default_factory=dict)

    def env(self, **more: str) -> dict[str, str]:
        """The environment a replica reads its registry from (and ``more``)."""
        return {**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri, **more}


def replica_command(model_uri: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "servegate", "replica", model_uri, *options]


@dataclass
class ReplicaProcess:
    """A ``servegate replica`` child process and a client for it (TCP or Unix socket)."""

    process: subprocess.Popen[bytes]
    client: httpx.Client
    log: Path

    @classmethod
    def start(
        cls,
        registry: Registry,
        model_uri: str,
        *options: str,
        uds: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ReplicaProcess:
        log = registry.root / f"replica-{len(list(registry.root.glob('replica-*')))}.log"
        if uds is not None:
            listen = ["--uds", str(uds)]
            client = httpx.Client(
                base_url="http://replica", transport=httpx.HTTPTransport(uds=str(uds)), timeout=30
            )
        else:
            port = free_port()
            listen = ["--port", str(port)]
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        with log.open("wb") as output:
            process = subprocess.Popen(
                replica_command(model_uri, *listen, *options),
                env=registry.env(**(env or {})),
                cwd=registry.root,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return cls(process, client, log)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"replica exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if self.client.get("/ping").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"replica did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("replica-registry")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        mlflow.set_tracking_uri(tracking_uri)
        experiment = mlflow.create_experiment(
            "replica-tests", artifact_location=(root / "artifacts").as_uri()
        )
        mlflow.set_experiment(experiment_id=experiment)
        found = Registry(tracking_uri, root)
        for key, register in (
            ("sklearn", models.register_sklearn),
            ("custom", models.register_custom_pyfunc),
            ("xgboost", models.register_xgboost),
        ):
            with mlflow.start_run():
                found.models[key] = Registered(*register(f"replica-{key}"))
        yield found


@pytest.fixture(scope="session")
def replicas(registry: Registry) -> Iterator[dict[str, ReplicaProcess]]:
    """One replica per model (the custom model's on a Unix socket), plus one with a tiny body
    limit; started together, stopped at the end of the session."""
    started = {
        "sklearn": ReplicaProcess.start(
            registry, registry.models["sklearn"].uri, "--concurrency", "2"
        ),
        "custom": ReplicaProcess.start(
            registry, registry.models["custom"].uri, uds=registry.root / "custom.sock"
        ),
        "xgboost": ReplicaProcess.start(registry, registry.models["xgboost"].uri),
        "small": ReplicaProcess.start(
            registry,
            registry.models["custom"].uri,
            "--max-request-bytes",
            str(SMALL_LIMIT_BYTES),
            "--max-rows",
            str(SMALL_LIMIT_ROWS),
        ),
    }
    try:
        for replica in started.values():
            replica.wait_ready()
        yield started
    finally:
        for replica in started.values():
            replica.stop()
