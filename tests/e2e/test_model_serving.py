"""Per-model serving: enable a registered model, query every version, stage and alias by URL,
and follow the registry as it moves."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
import requests
from mlflow.tracking import MlflowClient

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.load import SteadyLoad

LEGACY = "/api/2.0/mlflow/endpoints"
MODEL = "staged"


@pytest.fixture(scope="module")
def registry(gateway: GatewayProcess) -> Iterator[MlflowClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_TOKEN", gateway.token)
        yield MlflowClient(tracking_uri=gateway.url, registry_uri=gateway.url)


@pytest.fixture(scope="module")
def versions(gateway: GatewayProcess) -> list[Registered]:
    return [
        register_into(gateway, lambda: models.register_sklearn(MODEL, c=1.0)),
        register_into(gateway, lambda: models.register_sklearn(MODEL, c=0.01)),
    ]


def status(gateway: GatewayProcess, route: str, name: str = MODEL) -> requests.Response:
    return gateway.api("GET", f"{LEGACY}/{route}", params={"registered_model_name": name})


def wait_until(predicate, timeout: float = 120, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def served_versions(gateway: GatewayProcess) -> dict[str, str]:
    body = status(gateway, "list-versions").json()
    return {v["endpoint_version_name"]: v["state"] for v in body["endpoint_versions"]}


def score(gateway: GatewayProcess, reference: str | None, sample) -> requests.Response:  # type: ignore[no-untyped-def]
    path = f"/model/{MODEL}/{reference}/invocations" if reference else f"/model/{MODEL}/invocations"
    body = {"dataframe_split": json.loads(sample.head(2).to_json(orient="split"))}
    return gateway.api("POST", path, json=body)


@pytest.fixture(scope="module")
def enabled(gateway: GatewayProcess, versions: list[Registered]) -> list[Registered]:
    response = gateway.api("POST", f"{LEGACY}/enable", json={"registered_model_name": MODEL})
    assert response.status_code == 200 and response.json() == {}
    wait_until(
        lambda: served_versions(gateway) == {"1": "VERSION_STATE_READY", "2": "VERSION_STATE_READY"}
    )
    return versions


def test_enable_serves_every_version(gateway: GatewayProcess, enabled: list[Registered]) -> None:
    again = gateway.api("POST", f"{LEGACY}/enable", json={"registered_model_name": MODEL})
    assert again.status_code == 200, "enabling twice is harmless"
    endpoint = status(gateway, "get-status").json()["endpoint_status"]
    assert endpoint["registered_model_name"] == MODEL
    assert endpoint["state"] == "ENDPOINT_STATE_READY"
    listed = gateway.api("GET", f"{LEGACY}/list").json()["endpoints"]
    assert any(e["registered_model_name"] == MODEL for e in listed)
    preview = gateway.api(
        "GET", f"/api/2.0/preview/mlflow/endpoints/get-status?registered_model_name={MODEL}"
    )
    assert preview.json()["endpoint_status"]["state"] == "ENDPOINT_STATE_READY"

    sample = enabled[0].sample
    for version in ("1", "2"):
        answer = score(gateway, version, sample)
        assert answer.status_code == 200, answer.text
        assert answer.headers["served-model-name"] == f"{MODEL}-{version}"
    newest = score(gateway, None, sample)
    assert newest.headers["served-model-name"] == f"{MODEL}-2", "no Production: the newest"

    events = status(gateway, "get-event-history").json()["events"]
    assert [e["message"] for e in events].count("Serving enabled by admin.") == 1
    assert {"MODEL_UPDATE", "VERSION_UPDATE"} <= {e["event_type"] for e in events}


def test_errors(gateway: GatewayProcess, enabled: list[Registered]) -> None:
    def check(response: requests.Response, code: int, fragment: str) -> None:
        assert response.status_code == code, response.text
        assert fragment in response.json()["message"]

    check(
        gateway.api("POST", f"{LEGACY}/enable", json={"registered_model_name": "nope"}),
        400,
        "does not exist",
    )
    check(gateway.api("POST", f"{LEGACY}/enable", json={}), 400, "registered_model_name")
    check(status(gateway, "get-status", "nope"), 400, "not enabled")
    check(gateway.api("POST", "/model/nope/1/invocations", json={}), 404, "not enabled")
    sample = enabled[0].sample
    check(score(gateway, "99", sample), 404, "Version 99")
    check(score(gateway, "Staging", sample), 404, "stage Staging")
    check(score(gateway, "@nobody", sample), 404, "alias @nobody")


def test_seed_cells_verbatim(gateway: GatewayProcess, enabled: list[Registered]) -> None:
    """The two code cells our users learn from, with only ``token`` and ``api_url`` given."""
    X_test = enabled[0].sample  # noqa: N806 (the cells' own name)
    token, api_url = gateway.token, gateway.url
    namespace = {"token": token, "api_url": api_url, "X_test": X_test, "requests": requests}
    enable_cell = f"""
headers = {{"Authorization": f"Bearer {{token}}"}}
url = f"{{api_url}}/api/2.0/mlflow/endpoints/enable"
enabled = requests.post(url, headers=headers, json={{"registered_model_name": "{MODEL}"}})
"""
    query_cell = f"""
headers = {{"Authorization": f"Bearer {{token}}"}}
url = f"{{api_url}}/model/{MODEL}/invocations"
ds_dict = X_test.to_dict(orient="split")
response = requests.request(method="POST", headers=headers, url=url, json=ds_dict)
result = response.json()
"""
    exec(enable_cell, namespace)  # noqa: S102
    assert namespace["enabled"].status_code == 200
    exec(query_cell, namespace)  # noqa: S102
    assert len(namespace["result"]["predictions"]) == len(X_test)

    basic = base64.b64encode(f"token:{token}".encode()).decode()
    answer = requests.post(
        f"{api_url}/model/{MODEL}/invocations",
        timeout=30,
        headers={"Authorization": f"Basic {basic}"},
        json=X_test.to_dict(orient="split"),
    )
    assert answer.status_code == 200
    assert answer.json() == namespace["result"]


def _time_to_switch(load: SteadyLoad, expected: str, since: float) -> float:
    wait_until(lambda: expected in load.first_seen, timeout=30, interval=0.02)
    return load.first_seen[expected] - since


def test_stage_and_alias_moves_under_load(
    gateway: GatewayProcess, enabled: list[Registered], registry: MlflowClient
) -> None:
    sample = enabled[0].sample
    body = {"dataframe_split": json.loads(sample.head(1).to_json(orient="split"))}
    registry.transition_model_version_stage(MODEL, "1", "Production")
    registry.set_registered_model_alias(MODEL, "champion", "1")
    wait_until(lambda: score(gateway, "Production", sample).status_code == 200)
    wait_until(lambda: score(gateway, "@champion", sample).status_code == 200)

    switches = {}
    for reference, move in (
        (
            "Production",
            lambda: registry.transition_model_version_stage(
                MODEL, "2", "Production", archive_existing_versions=False
            ),
        ),
        ("@champion", lambda: registry.set_registered_model_alias(MODEL, "champion", "2")),
    ):
        url = f"{gateway.url}/model/{MODEL}/{reference}/invocations"
        with SteadyLoad(url, gateway.headers, body, threads=3, max_seconds=60) as load:
            time.sleep(1)
            assert set(load.served) == {f"{MODEL}-1"}
            moved_at = time.monotonic()
            move()
            switches[reference] = _time_to_switch(load, f"{MODEL}-2", moved_at)
            time.sleep(0.5)
        assert load.failures == [], load.failures[:3]
        assert load.total > 20
    print(f"seconds from registry move to first answer by the new version: {switches}")
    assert all(seconds <= 5.0 for seconds in switches.values()), switches
    aliases = status(gateway, "list-version-aliases").json()["aliases"]
    assert {"alias": "Production", "endpoint_version_name": "2"} in aliases
    assert {"alias": "@champion", "endpoint_version_name": "2"} in aliases
    default = score(gateway, None, sample)
    assert default.headers["served-model-name"] == f"{MODEL}-2", "Production is the default"


def test_new_versions_appear_and_archived_ones_go(
    gateway: GatewayProcess, enabled: list[Registered], registry: MlflowClient
) -> None:
    register_into(gateway, lambda: models.register_sklearn(MODEL, c=0.5))
    wait_until(lambda: served_versions(gateway).get("3") == "VERSION_STATE_READY")
    assert score(gateway, "3", enabled[0].sample).status_code == 200

    registry.transition_model_version_stage(MODEL, "1", "Archived")
    wait_until(lambda: "1" not in served_versions(gateway), timeout=30)
    gone = score(gateway, "1", enabled[0].sample)
    assert gone.status_code == 404 and "archived" in gone.json()["message"]
    messages = [e["message"] for e in status(gateway, "get-event-history").json()["events"]]
    assert "Version 1 is no longer served." in messages


def test_endpoint_entities_follow_stages_and_aliases(
    gateway: GatewayProcess, enabled: list[Registered], registry: MlflowClient
) -> None:
    registry.transition_model_version_stage(MODEL, "2", "Production")
    registry.set_registered_model_alias(MODEL, "canary", "2")
    created = gateway.api(
        "POST",
        "/api/2.0/serving-endpoints",
        json={
            "name": "follower",
            "config": {
                "served_entities": [
                    {"name": "prod", "entity_name": MODEL, "entity_version": "Production"},
                    {"name": "canary", "entity_name": MODEL, "entity_version": "@canary"},
                ],
                "traffic_config": {
                    "routes": [
                        {"served_model_name": "prod", "traffic_percentage": 50},
                        {"served_model_name": "canary", "traffic_percentage": 50},
                    ]
                },
            },
        },
    )
    assert created.status_code == 200, created.text
    ready = gateway.wait_for("follower")
    entities = {e["name"]: e for e in ready["config"]["served_entities"]}
    assert (entities["prod"]["entity_version"], entities["prod"]["resolved_version"]) == (
        "Production",
        "2",
    )
    assert (entities["canary"]["entity_version"], entities["canary"]["resolved_version"]) == (
        "@canary",
        "2",
    )

    body = {"dataframe_split": json.loads(enabled[0].sample.head(1).to_json(orient="split"))}
    url = f"{gateway.url}/serving-endpoints/follower/invocations"
    with SteadyLoad(url, gateway.headers, body, threads=3, max_seconds=120) as load:
        time.sleep(1)
        registry.transition_model_version_stage(MODEL, "3", "Production")
        registry.set_registered_model_alias(MODEL, "canary", "3")

        def resolved() -> bool:
            got = gateway.api("GET", "/api/2.0/serving-endpoints/follower").json()
            return {e["resolved_version"] for e in got["config"]["served_entities"]} == {"3"}

        wait_until(resolved, timeout=60)
        time.sleep(0.5)
    assert load.failures == [], load.failures[:3]
    assert set(load.served) == {"prod", "canary"}
    bad = gateway.api(
        "POST",
        "/api/2.0/serving-endpoints",
        json={
            "name": "follower-bad",
            "config": {"served_entities": [{"entity_name": MODEL, "entity_version": "Staging"}]},
        },
    )
    assert bad.status_code == 400 and "stage Staging" in bad.json()["message"]
    gateway.api("DELETE", "/api/2.0/serving-endpoints/follower")


def test_disable_stops_serving(gateway: GatewayProcess, enabled: list[Registered]) -> None:
    assert gateway.api("POST", f"{LEGACY}/disable", json={"registered_model_name": MODEL}).ok
    wait_until(lambda: score(gateway, "2", enabled[0].sample).status_code == 404, timeout=30)
    assert status(gateway, "get-status").status_code == 400
