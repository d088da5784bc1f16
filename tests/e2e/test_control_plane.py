"""The serving-endpoints REST API with plain ``requests``: shapes, state machine, bad input."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.special_models import register_environment_echo

BASE = "/api/2.0/serving-endpoints"


def entity(model: Registered, name: str | None = None) -> dict:
    body = {
        "entity_name": model.name,
        "entity_version": model.version,
        "workload_size": "Small",
        "scale_to_zero_enabled": False,
    }
    if name:
        body["name"] = name
    return body


def test_create_get_list_delete(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1 = sklearn_versions[0]
    created = gateway.api(
        "POST",
        BASE,
        json={
            "name": "cp-basic",
            "description": "demo",
            "tags": [{"key": "team", "value": "ml"}],
            "config": {"name": "cp-basic", "served_entities": [entity(v1)]},
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["name"] == "cp-basic" and len(body["id"]) == 32
    assert body["state"] == {"ready": "NOT_READY", "config_update": "IN_PROGRESS"}
    pending = body["pending_config"]
    assert pending["config_version"] == 1 and "start_time" in pending
    assert pending["served_entities"][0]["name"] == f"{v1.name}-{v1.version}"
    assert pending["traffic_config"]["routes"] == [
        {
            "served_entity_name": f"{v1.name}-{v1.version}",
            "served_model_name": f"{v1.name}-{v1.version}",
            "traffic_percentage": 100,
        }
    ]

    ready = gateway.wait_for("cp-basic")
    assert ready["state"] == {"ready": "READY", "config_update": "NOT_UPDATING"}
    assert "pending_config" not in ready
    served = ready["config"]["served_entities"][0]
    assert served["state"]["deployment"] == "DEPLOYMENT_READY"
    assert ready["config"]["served_models"][0]["model_name"] == v1.name
    assert ready["tags"] == [{"key": "team", "value": "ml"}]
    assert ready["permission_level"] == "CAN_MANAGE" and ready["creator"] == "admin"

    listed = gateway.api("GET", BASE).json()["endpoints"]
    summary = next(e for e in listed if e["name"] == "cp-basic")
    assert summary["config"]["served_entities"][0]["entity_version"] == v1.version
    assert "pending_config" not in summary

    assert gateway.api("DELETE", f"{BASE}/cp-basic").status_code == 200
    assert gateway.api("GET", f"{BASE}/cp-basic").status_code == 404
    missing = gateway.api("DELETE", f"{BASE}/cp-basic")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_tags_patch(gateway: GatewayProcess, sklearn_versions: list[Registered]) -> None:
    gateway.api(
        "POST",
        BASE,
        json={"name": "cp-tags", "config": {"served_entities": [entity(sklearn_versions[0])]}},
    ).raise_for_status()
    patched = gateway.api(
        "PATCH",
        f"{BASE}/cp-tags/tags",
        json={"add_tags": [{"key": "a", "value": "1"}, {"key": "b"}]},
    )
    assert patched.json() == {"tags": [{"key": "a", "value": "1"}, {"key": "b"}]}
    patched = gateway.api(
        "PATCH",
        f"{BASE}/cp-tags/tags",
        json={"add_tags": [{"key": "a", "value": "2"}], "delete_tags": ["b"]},
    )
    assert patched.json() == {"tags": [{"key": "a", "value": "2"}]}
    assert gateway.api("PATCH", f"{BASE}/nope/tags", json={}).status_code == 404
    gateway.api("DELETE", f"{BASE}/cp-tags")


def test_update_while_updating_is_409(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, v2 = sklearn_versions
    gateway.api(
        "POST", BASE, json={"name": "cp-409", "config": {"served_entities": [entity(v1)]}}
    ).raise_for_status()
    conflict = gateway.api("PUT", f"{BASE}/cp-409/config", json={"served_entities": [entity(v2)]})
    assert conflict.status_code == 409
    assert conflict.json()["error_code"] == "RESOURCE_CONFLICT"
    done = gateway.wait_for("cp-409")
    assert done["config"]["config_version"] == 1
    assert done["config"]["served_entities"][0]["entity_version"] == v1.version
    gateway.api("DELETE", f"{BASE}/cp-409")


def _rejected(
    gateway: GatewayProcess, name: str, config: dict, fragment: str, status: int = 400
) -> None:
    response = gateway.api("POST", BASE, json={"name": name, "config": config})
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error_code", "message"}
    assert fragment in body["message"], body["message"]
    assert "Unexpected error" not in body["message"]
    assert gateway.api("GET", f"{BASE}/{name}").status_code == 404, "nothing stored"


def test_bad_configs_are_rejected_and_nothing_is_stored(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, v2 = sklearn_versions
    two = [entity(v1, "a"), entity(v2, "b")]
    _rejected(
        gateway,
        "bad-sum",
        {
            "served_entities": two,
            "traffic_config": {
                "routes": [
                    {"served_model_name": "a", "traffic_percentage": 50},
                    {"served_model_name": "b", "traffic_percentage": 40},
                ]
            },
        },
        "add up to 90",
    )
    _rejected(
        gateway,
        "bad-route",
        {
            "served_entities": two,
            "traffic_config": {
                "routes": [
                    {"served_model_name": "a", "traffic_percentage": 50},
                    {"served_model_name": "zzz", "traffic_percentage": 50},
                ]
            },
        },
        "'zzz'",
    )
    _rejected(
        gateway,
        "bad-dup",
        {
            "served_entities": [entity(v1, "a"), entity(v2, "a")],
            "traffic_config": {"routes": [{"served_model_name": "a", "traffic_percentage": 100}]},
        },
        "more than once",
    )
    eleven = [entity(v1, f"m{i}") for i in range(11)]
    _rejected(gateway, "bad-eleven", {"served_entities": eleven}, "at most 10")
    _rejected(
        gateway,
        "bad-version",
        {"served_entities": [{"entity_name": v1.name, "entity_version": "999"}]},
        "does not exist",
    )
    _rejected(
        gateway,
        "bad-model",
        {"served_entities": [{"entity_name": "no-such-model", "entity_version": "1"}]},
        "does not exist",
    )
    _rejected(
        gateway,
        "bad-size",
        {"served_entities": [{**entity(v1), "workload_size": "Huge"}]},
        "workload_size",
    )
    _rejected(
        gateway,
        "bad-range",
        {
            "served_entities": [
                {**entity(v1), "min_provisioned_concurrency": 8, "max_provisioned_concurrency": 4}
            ]
        },
        "min_provisioned_concurrency (8) is above max_provisioned_concurrency (4)",
    )
    _rejected(
        gateway,
        "bad-pct",
        {
            "served_entities": two,
            "traffic_config": {
                "routes": [
                    {"served_model_name": "a", "traffic_percentage": "lots"},
                    {"served_model_name": "b", "traffic_percentage": 0},
                ]
            },
        },
        "traffic_percentage",
    )
    _rejected(gateway, "bad-none", {"served_entities": []}, "at least one")
    _rejected(gateway, "bad-multi", {"served_entities": two}, "traffic_config is required")
    _rejected(gateway, "bad name!", {"served_entities": [entity(v1)]}, "1 to 63 characters")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b'{"config": {}}', "name")],
)
def test_malformed_create_bodies(gateway: GatewayProcess, body: bytes, fragment: str) -> None:
    response = gateway.api(
        "POST", BASE, data=body, headers={**gateway.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_bad_update_keeps_the_endpoint_unchanged(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1 = sklearn_versions[0]
    gateway.api(
        "POST", BASE, json={"name": "cp-badupd", "config": {"served_entities": [entity(v1)]}}
    ).raise_for_status()
    before = gateway.wait_for("cp-badupd")
    response = gateway.api(
        "PUT",
        f"{BASE}/cp-badupd/config",
        json={"served_entities": [{"entity_name": v1.name, "entity_version": "777"}]},
    )
    assert response.status_code == 400
    after = gateway.api("GET", f"{BASE}/cp-badupd").json()
    assert after["config"] == before["config"]
    assert after["state"]["config_update"] == "NOT_UPDATING"
    assert (
        gateway.api(
            "PUT", f"{BASE}/missing/config", json={"served_entities": [entity(v1)]}
        ).status_code
        == 404
    )
    gateway.api("DELETE", f"{BASE}/cp-badupd")


def test_duplicate_create_is_rejected(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    config = {"served_entities": [entity(sklearn_versions[0])]}
    gateway.api("POST", BASE, json={"name": "cp-dup", "config": config}).raise_for_status()
    again = gateway.api("POST", BASE, json={"name": "cp-dup", "config": config})
    assert again.status_code == 409
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    gateway.api("DELETE", f"{BASE}/cp-dup")


def test_unknown_routes_answer_json(gateway: GatewayProcess) -> None:
    response = gateway.api("POST", f"{BASE}/x/nothing-here")
    assert response.status_code in (404, 405)
    assert "error_code" in response.json()
    assert gateway.api("GET", "/.well-known/databricks-config", headers={}).json() == {}


def test_served_models_form_and_environment_vars(gateway: GatewayProcess) -> None:
    """The deprecated ``served_models`` form works, is echoed in both forms, and a served
    model's ``environment_vars`` reach its replica."""
    echo = register_into(gateway, lambda: register_environment_echo("env-echo"))
    created = gateway.api(
        "POST",
        BASE,
        json={
            "name": "cp-legacy",
            "config": {
                "served_models": [
                    {
                        "model_name": echo.name,
                        "model_version": int(echo.version),
                        "workload_size": "Small",
                        "scale_to_zero_enabled": False,
                        "environment_vars": {"GREETING": "hello from config"},
                    }
                ]
            },
        },
    )
    assert created.status_code == 200, created.text
    ready = gateway.wait_for("cp-legacy")
    [model] = ready["config"]["served_models"]
    assert (model["name"], model["model_name"], model["model_version"]) == (
        f"{echo.name}-{echo.version}",
        echo.name,
        echo.version,
    )
    assert model["environment_vars"] == {"GREETING": "hello from config"}
    assert ready["config"]["served_entities"][0]["entity_name"] == echo.name
    answer = gateway.api(
        "POST",
        "/serving-endpoints/cp-legacy/invocations",
        json={"dataframe_records": [{"x": 1.0}, {"x": 2.0}]},
    )
    assert answer.json() == {"predictions": ["hello from config"] * 2}
    gateway.api("DELETE", f"{BASE}/cp-legacy")
