"""Fixtures that start a real gateway and register real models into its embedded registry."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests import models
from tests.e2e.gateway_process import GatewayProcess
from tests.features.conftest import REDIS_URL, clean_redis


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    sample: pd.DataFrame

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def entity(self, served_name: str) -> dict[str, str]:
        """This version as a served entity of an endpoint config."""
        return {"name": served_name, "entity_name": self.name, "entity_version": self.version}


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("home")).start()
    yield process
    process.stop()


def register_into(gateway: GatewayProcess, register) -> Registered:  # type: ignore[no-untyped-def]
    """Run a ``tests.models`` helper against the gateway's embedded registry, over HTTP."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", gateway.url)
        patch.setenv("MLFLOW_TRACKING_TOKEN", gateway.token)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(gateway.url)
        mlflow.set_experiment("Default")  # not one another registry's test made active
        try:
            uri, sample = register()
        finally:
            mlflow.set_tracking_uri(previous)
    _, _, rest = uri.partition("models:/")
    name, _, version = rest.rpartition("/")
    return Registered(name, version, sample)


def load_pyfunc(gateway: GatewayProcess, model: Registered) -> mlflow.pyfunc.PyFuncModel:
    """A model version as pyfunc, loaded from the gateway's registry (the tracking URI is
    restored after)."""
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_TOKEN", gateway.token)
        mlflow.set_tracking_uri(gateway.url)
        try:
            return mlflow.pyfunc.load_model(model.uri)
        finally:
            mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def sklearn_versions(gateway: GatewayProcess) -> list[Registered]:
    """Two versions of the same sklearn model name, with different predictions."""
    return [
        register_into(gateway, lambda: models.register_sklearn("bc-logreg", c=1.0)),
        register_into(gateway, lambda: models.register_sklearn("bc-logreg", c=0.01)),
    ]


@pytest.fixture(scope="session")
def custom_model(gateway: GatewayProcess) -> Registered:
    return register_into(gateway, lambda: models.register_custom_pyfunc("custom-scorer"))


@pytest.fixture(scope="session")
def xgboost_model(gateway: GatewayProcess) -> Registered:
    return register_into(gateway, lambda: models.register_xgboost("bc-xgb"))


@contextlib.contextmanager
def gateway_with_online_store(kind: str, home: Path) -> Iterator[GatewayProcess]:
    """A gateway whose online store is the embedded SQLite one (``kind`` "sqlite") or Redis
    on 127.0.0.1:6379 under a key prefix of its own, removed afterwards."""
    prefix = f"servegate-test-{uuid.uuid4().hex[:12]}:"
    args, env = [], {}
    if kind == "redis":
        args = ["--online-store", REDIS_URL]
        env = {"SERVEGATE_ONLINE_STORE_PREFIX": prefix}
    process = GatewayProcess(home, args=args, env=env).start()
    try:
        yield process
    finally:
        process.stop()
        clean_redis(prefix)
