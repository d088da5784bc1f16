"""Per-model environments: models pinning different scikit-learn versions served side by side
by one gateway, each ``env_manager: virtualenv`` replica in a virtualenv that uv built from the
model's own requirements, next to a replica in the server's own Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy.testing
import pytest
import sklearn

from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.special_models import register_pinned

BASE = "/api/2.0/serving-endpoints"
OLD_SKLEARN = "1.5.2"  # has a CPython 3.11 wheel and works with the NumPy uv resolves for it
READY_TIMEOUT_S = 240.0
CREATED = re.compile(r"environment: creating virtualenv with uv for requirements ([0-9a-f]{16})")
INSTALLED = re.compile(r"environment: installed (\d+) packages in (\d+\.\d\d)s")

TRAIN_AND_LOG = """
import json, sys
import cloudpickle, mlflow, sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=5000).fit(features, labels)
sample = features.head(5)
info = mlflow.sklearn.log_model(
    model,
    name="model",
    serialization_format="cloudpickle",
    pyfunc_predict_fn="predict_proba",
    input_example=sample,
    pip_requirements=[
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ],
    registered_model_name=sys.argv[1],
)
print(json.dumps({
    "version": info.registered_model_version,
    "sklearn": sklearn.__version__,
    "sample": {"columns": list(sample.columns), "data": sample.values.tolist()},
    "probabilities": model.predict_proba(sample).tolist(),
}))
"""


@pytest.fixture(scope="module")
def envs_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with a home of its own, so its first virtualenv builds are really first."""
    gateway = GatewayProcess(tmp_path_factory.mktemp("envs-home")).start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def pinned(envs_gateway: GatewayProcess) -> dict[str, Registered]:
    """The same model logged pinning an older scikit-learn and the server's own."""
    return {
        "old": register_into(
            envs_gateway, lambda: register_pinned("pins-old", [f"scikit-learn=={OLD_SKLEARN}"])
        ),
        "new": register_into(
            envs_gateway,
            lambda: register_pinned("pins-new", [f"scikit-learn=={sklearn.__version__}"]),
        ),
    }


def in_virtualenv(model: Registered, served: str) -> dict[str, str]:
    return {**model.entity(served), "env_manager": "virtualenv"}


def create(gateway: GatewayProcess, name: str, entities: list[dict], routes: list[dict]) -> dict:
    config = {"served_entities": entities, "traffic_config": {"routes": routes}}
    created = gateway.api("POST", BASE, json={"name": name, "config": config})
    assert created.status_code == 200, created.text
    return gateway.wait_for(name, ready=False, timeout=READY_TIMEOUT_S)


def answer(gateway: GatewayProcess, endpoint: str, served: str, body: dict) -> list:
    response = gateway.api(
        "POST", f"/serving-endpoints/{endpoint}/served-models/{served}/invocations", json=body
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def libraries(gateway: GatewayProcess, endpoint: str, served: str) -> dict[str, str]:
    """What the served ``LibraryVersions`` model says it runs with."""
    body = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}
    return answer(gateway, endpoint, served, body)[0]


def build_log(gateway: GatewayProcess, endpoint: str, served: str) -> str:
    path = f"{BASE}/{endpoint}/served-models/{served}/build-logs"
    return gateway.api("GET", path).json()["logs"]


def built_digest(log: str) -> str:
    found = CREATED.search(log)
    assert found, log
    assert INSTALLED.search(log, found.end()), log
    return found[1]


def test_models_pinning_different_sklearn_versions_serve_side_by_side(
    envs_gateway: GatewayProcess, pinned: dict[str, Registered]
) -> None:
    envs = envs_gateway.home / "envs"
    started = time.monotonic()
    endpoint = create(
        envs_gateway,
        "side-by-side",
        [
            in_virtualenv(pinned["old"], "old"),
            in_virtualenv(pinned["new"], "new"),
            pinned["new"].entity("server"),
        ],
        [
            {"served_entity_name": "old", "traffic_percentage": 34},
            {"served_entity_name": "new", "traffic_percentage": 33},
            {"served_entity_name": "server", "traffic_percentage": 33},
        ],
    )
    print(f"cold: two virtualenvs built and served in {time.monotonic() - started:.1f}s")
    assert endpoint["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}, endpoint
    shown = {e["name"]: e for e in endpoint["config"]["served_entities"]}
    assert shown["old"]["env_manager"] == shown["new"]["env_manager"] == "virtualenv"
    assert "env_manager" not in shown["server"]

    old, new = (
        build_log(envs_gateway, "side-by-side", "old"),
        build_log(envs_gateway, "side-by-side", "new"),
    )
    print(old, new, sep="\n")
    assert libraries(envs_gateway, "side-by-side", "old") == {
        "sklearn": OLD_SKLEARN,
        "prefix": str(envs / built_digest(old)),
    }
    assert libraries(envs_gateway, "side-by-side", "new") == {
        "sklearn": sklearn.__version__,
        "prefix": str(envs / built_digest(new)),
    }
    assert libraries(envs_gateway, "side-by-side", "server") == {
        "sklearn": sklearn.__version__,
        "prefix": sys.prefix,
    }
    assert "environment:" not in build_log(envs_gateway, "side-by-side", "server")
    assert sorted(p.name for p in envs.iterdir() if p.is_dir()) == sorted(
        [built_digest(old), built_digest(new)]
    )


def test_a_second_start_of_the_same_requirements_reuses_the_built_environment(
    envs_gateway: GatewayProcess, pinned: dict[str, Registered]
) -> None:
    digest = built_digest(build_log(envs_gateway, "side-by-side", "old"))
    started = time.monotonic()
    endpoint = create(
        envs_gateway,
        "again",
        [in_virtualenv(pinned["old"], "old")],
        [{"served_entity_name": "old", "traffic_percentage": 100}],
    )
    print(f"cached: served from the built virtualenv in {time.monotonic() - started:.1f}s")
    assert endpoint["state"]["ready"] == "READY", endpoint
    log = build_log(envs_gateway, "again", "old")
    assert f"environment: reusing cached {digest}" in log, log
    assert "creating virtualenv" not in log
    assert libraries(envs_gateway, "again", "old")["sklearn"] == OLD_SKLEARN


def test_a_model_trained_by_the_older_sklearn_serves_its_predictions(
    envs_gateway: GatewayProcess, pinned: dict[str, Registered]
) -> None:
    """A real scikit-learn model, trained and logged inside the older scikit-learn's
    virtualenv, answers through the gateway what it answered there."""
    digest = built_digest(build_log(envs_gateway, "side-by-side", "old"))
    python = envs_gateway.home / "envs" / digest / "bin" / "python"
    trained = subprocess.run(
        [str(python), "-c", TRAIN_AND_LOG, "trained-old"],
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "MLFLOW_TRACKING_URI": envs_gateway.url,
            "MLFLOW_TRACKING_TOKEN": envs_gateway.token,
        },
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    there = json.loads(trained.stdout.strip().splitlines()[-1])
    assert there["sklearn"] == OLD_SKLEARN
    model = Registered("trained-old", there["version"], None)  # type: ignore[arg-type]
    endpoint = create(
        envs_gateway,
        "trained",
        [in_virtualenv(model, "old-logreg")],
        [{"served_entity_name": "old-logreg", "traffic_percentage": 100}],
    )
    assert endpoint["state"]["ready"] == "READY", endpoint
    served = answer(envs_gateway, "trained", "old-logreg", {"dataframe_split": there["sample"]})
    # The same library on the same numbers; only the order of floating-point sums may differ.
    numpy.testing.assert_allclose(served, there["probabilities"], rtol=1e-9, atol=1e-15)


def test_requirements_uv_cannot_install_fail_the_deployment_with_uv_reason(
    envs_gateway: GatewayProcess,
) -> None:
    missing = register_into(
        envs_gateway, lambda: register_pinned("pins-missing", ["scikit-learn==9.9.9"])
    )
    endpoint = create(
        envs_gateway,
        "uninstallable",
        [in_virtualenv(missing, "missing")],
        [{"served_entity_name": "missing", "traffic_percentage": 100}],
    )
    assert endpoint["state"]["config_update"] == "UPDATE_FAILED", endpoint
    entity = endpoint["pending_config"]["served_entities"][0]
    assert entity["state"]["deployment"] == "DEPLOYMENT_FAILED"
    message = entity["state"]["deployment_state_message"]
    assert "uv could not install the model's requirements" in message, message
    assert "scikit-learn==9.9.9" in message, message
    envs = envs_gateway.home / "envs"
    assert not [p for p in envs.iterdir() if p.name.startswith(".build-")]


def test_an_unknown_env_manager_is_refused(
    envs_gateway: GatewayProcess, pinned: dict[str, Registered]
) -> None:
    config = {"served_entities": [{**pinned["old"].entity("old"), "env_manager": "conda"}]}
    refused = envs_gateway.api("POST", BASE, json={"name": "conda", "config": config})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "served_entities.0.env_manager" in refused.json()["message"]
    assert mlflow.get_tracking_uri() != envs_gateway.url


def test_replicas_starting_together_share_one_build(
    envs_gateway: GatewayProcess,
) -> None:
    shared = register_into(
        envs_gateway,
        lambda: register_pinned("pins-shared", [f"scikit-learn=={OLD_SKLEARN}", "threadpoolctl"]),
    )
    two_replicas = {"min_provisioned_concurrency": 8, "max_provisioned_concurrency": 8}
    endpoint = create(
        envs_gateway,
        "together",
        [{**in_virtualenv(shared, "shared"), **two_replicas}],
        [{"served_entity_name": "shared", "traffic_percentage": 100}],
    )
    assert endpoint["state"]["ready"] == "READY", endpoint
    deadline = time.monotonic() + READY_TIMEOUT_S
    while endpoint["config"]["served_entities"][0]["scaling"]["ready_replicas"] < 2:
        assert time.monotonic() < deadline, endpoint
        time.sleep(0.5)
        endpoint = envs_gateway.api("GET", f"{BASE}/together").json()
    log = build_log(envs_gateway, "together", "shared")  # both replicas write here
    digest = built_digest(log)
    assert log.count("environment: creating virtualenv") == 1, log
    assert log.count(f"environment: reusing cached {digest}") == 1, log


def test_the_servers_default_env_manager_applies_to_entities_that_do_not_choose(
    envs_gateway: GatewayProcess,
) -> None:
    """Restarted with SERVEGATE_ENV_MANAGER=virtualenv, the gateway serves the entity that
    ran in its own Python from the environment already built for the same requirements."""
    digest = built_digest(build_log(envs_gateway, "side-by-side", "new"))
    envs_gateway.stop()
    restarted = GatewayProcess(envs_gateway.home, env={"SERVEGATE_ENV_MANAGER": "virtualenv"})
    restarted.start()
    try:
        restarted.wait_for("side-by-side", timeout=READY_TIMEOUT_S)
        assert libraries(restarted, "side-by-side", "server") == {
            "sklearn": sklearn.__version__,
            "prefix": str(envs_gateway.home / "envs" / digest),
        }
        log = build_log(restarted, "side-by-side", "server")
        assert f"environment: reusing cached {digest}" in log, log
    finally:
        restarted.stop()
