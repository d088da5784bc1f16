"""``servegate serve --backend ray`` end to end: a real one-node Ray cluster on loopback, a
real gateway deploying each served model as a Ray Serve application, real models from the
gateway's registry."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import requests

from servegate.client import ServegateClient
from tests import models
from tests.e2e import special_models
from tests.e2e.conftest import Registered, load_pyfunc, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.ray_cluster import LOOPBACK_ENV, LocalRay, leaks
from tests.e2e.test_feature_lookup import SCHEMA, SPEND
from tests.ports import free_port

BASE = "/api/2.0/serving-endpoints"
REQUESTS = 100
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalRay]:
    cluster = LocalRay().start()
    try:
        yield cluster
    finally:
        cluster.stop()
    assert not cluster.pids(), "Ray processes outlived the cluster"


@pytest.fixture(scope="module")
def ray_gateway(
    ray_cluster: LocalRay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(
        tmp_path_factory.mktemp("ray-home"),
        env={
            **ray_cluster.client_env,
            "SERVEGATE_RAY_REPLICA_CPUS": "0.25",  # two endpoints' replicas fit on 2 CPUs
            "SERVEGATE_SCALE_DOWN_DELAY_S": "5",
            "SERVEGATE_SCALE_TO_ZERO_IDLE_S": "5",
        },
        args=[
            "--backend",
            "ray",
            "--ray-address",
            ray_cluster.address,
            "--ray-http-port",
            str(ray_cluster.serve_port),
        ],
    ).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def versions(ray_gateway: GatewayProcess) -> list[Registered]:
    return [
        register_into(ray_gateway, lambda: models.register_sklearn("ray-logreg", c=1.0)),
        register_into(ray_gateway, lambda: models.register_sklearn("ray-logreg", c=0.01)),
    ]


def wait_until(check: Callable[[], object], what: str, timeout: float = 180) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def servegate_applications(cluster: LocalRay) -> dict[str, dict]:
    return {
        name: app for name, app in cluster.applications().items() if name.startswith("servegate-")
    }


def predictions(answer: requests.Response) -> list:
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def test_split_endpoint_runs_on_ray_serve(
    ray_cluster: LocalRay, ray_gateway: GatewayProcess, versions: list[Registered]
) -> None:
    v1, v2 = versions
    config = {
        "served_entities": [v1.entity("a"), v2.entity("b")],
        "traffic_config": {
            "routes": [
                {"served_model_name": "a", "traffic_percentage": 80},
                {"served_model_name": "b", "traffic_percentage": 20},
            ]
        },
    }
    created = ray_gateway.api("POST", BASE, json={"name": "ray-split", "config": config})
    assert created.status_code == 200, created.text
    try:
        first = ray_gateway.api("GET", f"{BASE}/ray-split").json()
        assert first["state"]["ready"] == "NOT_READY", first
        ready = ray_gateway.wait_for("ray-split", timeout=300)
        entities = ready["config"]["served_entities"]
        assert [e["state"]["deployment"] for e in entities] == ["DEPLOYMENT_READY"] * 2, entities
        assert [e["scaling"]["ready_replicas"] for e in entities] == [1, 1], entities

        applications = servegate_applications(ray_cluster)
        assert len(applications) == 2, applications
        assert {app["status"] for app in applications.values()} == {"RUNNING"}

        sample = v1.sample
        body = {"dataframe_split": json.loads(sample.to_json(orient="split", index=False))}
        expected = {
            served: np.asarray(load_pyfunc(ray_gateway, model).predict(sample)).tolist()
            for served, model in (("a", v1), ("b", v2))
        }
        counts: Counter[str] = Counter()
        url = f"{ray_gateway.url}/serving-endpoints/ray-split/invocations"
        with requests.Session() as session:
            session.headers.update(ray_gateway.headers)
            for _ in range(REQUESTS):
                answer = session.post(url, json=body, timeout=60)
                served = answer.headers["served-model-name"]
                assert predictions(answer) == expected[served]
                counts[served] += 1
        assert abs(counts["a"] / REQUESTS - 0.80) <= 0.12, counts
        assert counts["a"] + counts["b"] == REQUESTS

        pids = ray_cluster.pids() | {ray_gateway.process.pid}  # type: ignore[union-attr]
        assert not leaks(pids), leaks(pids)
    finally:  # a failure here must not leave its applications to the next tests
        assert ray_gateway.api("DELETE", f"{BASE}/ray-split").status_code == 200
        wait_until(lambda: not servegate_applications(ray_cluster), "the applications to go")


def test_scaled_to_zero_on_ray_answers_the_next_request(
    ray_cluster: LocalRay, ray_gateway: GatewayProcess, versions: list[Registered]
) -> None:
    model = versions[0]
    entity = {**model.entity("m"), "workload_size": "Small", "scale_to_zero_enabled": True}
    ray_gateway.create("ray-sleepy", [entity])
    sample = model.sample.head(2)
    body = {"dataframe_split": json.loads(sample.to_json(orient="split", index=False))}
    url = "/serving-endpoints/ray-sleepy/invocations"
    awake = predictions(ray_gateway.api("POST", url, json=body))

    def asleep() -> bool:
        (application,) = servegate_applications(ray_cluster).values()
        (replicas,) = application["replicas"].values()
        return not replicas.get("RUNNING")

    def entity() -> dict:
        return ray_gateway.api("GET", f"{BASE}/ray-sleepy").json()["config"]["served_entities"][0]

    wait_until(asleep, "Ray to scale the deployment to zero", timeout=120)
    shown = wait_until(lambda: (e := entity())["scaling"]["scaled_to_zero"] and e, "GET to say so")
    assert shown["state"]["deployment"] == "DEPLOYMENT_READY", shown  # type: ignore[index]
    assert "Scaled to zero" in shown["state"]["deployment_state_message"]  # type: ignore[index]
    assert predictions(ray_gateway.api("POST", url, json=body, timeout=180)) == awake
    wait_until(lambda: entity()["scaling"]["ready_replicas"] == 1, "GET to count the replica")

    pids = ray_cluster.pids() | {ray_gateway.process.pid}  # type: ignore[union-attr]
    assert not leaks(pids), leaks(pids)
    assert ray_gateway.api("DELETE", f"{BASE}/ray-sleepy").status_code == 200
    wait_until(lambda: not servegate_applications(ray_cluster), "the application to go")


def test_updates_on_ray_keep_the_old_config_until_the_new_one_runs(
    ray_cluster: LocalRay, ray_gateway: GatewayProcess, versions: list[Registered]
) -> None:
    v1, v2 = versions
    broken = register_into(ray_gateway, lambda: special_models.register_broken("ray-broken"))
    ray_gateway.create("ray-updates", [v1.entity("m")])
    (serving,) = servegate_applications(ray_cluster)
    body = {"dataframe_split": json.loads(v1.sample.to_json(orient="split", index=False))}
    url = "/serving-endpoints/ray-updates/invocations"
    before = predictions(ray_gateway.api("POST", url, json=body))

    bad = {"served_entities": [broken.entity("bad")]}
    assert ray_gateway.api("PUT", f"{BASE}/ray-updates/config", json=bad).status_code == 200
    failed = ray_gateway.wait_for("ray-updates", ready=False, timeout=300)
    assert failed["state"] == {"ready": "READY", "config_update": "UPDATE_FAILED"}
    state = failed["pending_config"]["served_entities"][0]["state"]
    assert state["deployment"] == "DEPLOYMENT_FAILED"
    assert "broken on purpose" in state["deployment_state_message"], state
    assert predictions(ray_gateway.api("POST", url, json=body)) == before
    wait_until(
        lambda: set(servegate_applications(ray_cluster)) == {serving},
        "the failed application to go",
    )

    good = {"served_entities": [v2.entity("m")]}
    assert ray_gateway.api("PUT", f"{BASE}/ray-updates/config", json=good).status_code == 200
    done = ray_gateway.wait_for("ray-updates", timeout=300)
    assert done["config"]["served_entities"][0]["entity_version"] == v2.version
    expected = np.asarray(load_pyfunc(ray_gateway, v2).predict(v2.sample)).tolist()
    assert predictions(ray_gateway.api("POST", url, json=body)) == expected
    wait_until(
        lambda: serving not in servegate_applications(ray_cluster),
        "the old config's application to go",
    )
    assert ray_gateway.api("DELETE", f"{BASE}/ray-updates").status_code == 200
    wait_until(lambda: not servegate_applications(ray_cluster), "the application to go")


def test_a_model_on_ray_looks_features_up(
    ray_cluster: LocalRay, ray_gateway: GatewayProcess
) -> None:
    client = ServegateClient(ray_gateway.url, ray_gateway.token)
    client.create_feature_table("customer_spend", ["customer_id"], SCHEMA)
    client.upsert_features("customer_spend", SPEND)
    client.close()
    model = register_into(ray_gateway, lambda: special_models.register_feature_echo("ray-echo"))
    ray_gateway.create("ray-echo", [model.entity("m")])
    rows = [{"customer_id": 1, "amount": 10.0}, {"customer_id": 404, "amount": 5.0}]
    answer = ray_gateway.api(
        "POST", "/serving-endpoints/ray-echo/invocations", json={"dataframe_records": rows}
    )
    assert predictions(answer) == ["9|3|1", "null|null|null"]
    assert ray_gateway.api("DELETE", f"{BASE}/ray-echo").status_code == 200
    wait_until(lambda: not servegate_applications(ray_cluster), "the application to go")


def test_an_unreachable_ray_cluster_fails_the_endpoint_with_the_reason(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    gateway = GatewayProcess(
        tmp_path_factory.mktemp("ray-nowhere"),
        env=LOOPBACK_ENV,
        args=["--backend", "ray", "--ray-address", nowhere],
    ).start()
    try:
        model = register_into(gateway, lambda: models.register_sklearn("ray-nowhere"))
        config = {"served_entities": [model.entity("m")]}
        created = gateway.api("POST", BASE, json={"name": "ray-nowhere", "config": config})
        assert created.status_code == 200, created.text
        failed = gateway.wait_for("ray-nowhere", ready=False, timeout=120)
        assert failed["state"] == {"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}
        state = failed["pending_config"]["served_entities"][0]["state"]
        assert state["deployment"] == "DEPLOYMENT_FAILED"
        assert f"nothing answers at {nowhere}" in state["deployment_state_message"], state
    finally:
        gateway.stop()
