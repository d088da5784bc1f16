"""``--registry-uri`` serves models from an external MLflow registry instead of the embedded one."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from tests import models
from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess


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
    model = Registered("external-model", uri.rpartition("/")[2], sample)

    gateway = GatewayProcess(tmp_path / "home", args=["--registry-uri", registry]).start()
    try:
        gateway.create("ext", [model.entity("m")])
        body = {"dataframe_split": json.loads(sample.to_json(orient="split"))}
        answer = gateway.api("POST", "/serving-endpoints/ext/invocations", json=body)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == len(sample)
        # No embedded registry is served in this mode.
        embedded = gateway.api("GET", "/api/2.0/mlflow/registered-models/search")
        assert embedded.status_code == 404
    finally:
        gateway.stop()
