"""Who may do what: a permission matrix over the control and data planes, and tokens' life."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess

BASE = "/api/2.0/serving-endpoints"
SCIM = "/api/2.0/preview/scim/v2"
IDENTITIES = (
    "none",
    "bad",
    "expired",
    "revoked",
    "outsider",
    "viewer",
    "querier",
    "manager",
    "admin",
)


@dataclass
class World:
    gateway: GatewayProcess
    tokens: dict[str, str | None]
    ids: dict[str, str]
    endpoint_id: str
    body: dict

    def call(self, who: str, method: str, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        token = self.tokens[who]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(
            method, self.gateway.url + path, headers=headers, timeout=60, **kwargs
        )


@pytest.fixture(scope="module")
def world(gateway: GatewayProcess, sklearn_versions: list[Registered]) -> World:
    ids = {
        name: gateway.create_user(f"{name}@example.com")
        for name in ("outsider", "viewer", "querier", "manager", "revoked", "expired")
    }
    tokens: dict[str, str | None] = {
        "none": None,
        "bad": "sgt_not-a-real-token",
        "admin": gateway.token,
    }
    for name in ("outsider", "viewer", "querier", "manager"):
        tokens[name] = gateway.token_for(f"{name}@example.com")[0]
    tokens["expired"] = gateway.token_for("expired@example.com", lifetime=1)[0]
    revoked, revoked_id = gateway.token_for("revoked@example.com")
    assert gateway.api("DELETE", f"/api/2.0/token-management/tokens/{revoked_id}").ok
    tokens["revoked"] = revoked

    v1 = sklearn_versions[0]
    gateway.create("acl-endpoint", [v1.entity("m")])
    endpoint_id = gateway.api("GET", f"{BASE}/acl-endpoint").json()["id"]
    granted = gateway.api(
        "PUT",
        f"/api/2.0/permissions/serving-endpoints/{endpoint_id}",
        json={
            "access_control_list": [
                {"user_name": f"{name}@example.com", "permission_level": level}
                for name, level in (
                    ("viewer", "CAN_VIEW"),
                    ("querier", "CAN_QUERY"),
                    ("manager", "CAN_MANAGE"),
                )
            ]
        },
    )
    assert granted.status_code == 200, granted.text
    time.sleep(1.2)  # let the one-second token expire
    body = {"dataframe_records": json.loads(v1.sample.head(1).to_json(orient="records"))}
    return World(gateway, tokens, ids, endpoint_id, body)


def expect(world: World, method: str, path: str, outcomes: dict[str, int], **kwargs) -> None:  # type: ignore[no-untyped-def]
    """``outcomes`` by identity; the four without a valid token always get 401."""
    full = {"none": 401, "bad": 401, "expired": 401, "revoked": 401, **outcomes}
    assert set(full) == set(IDENTITIES), sorted(set(IDENTITIES) - set(full))
    seen = {who: world.call(who, method, path, **kwargs).status_code for who in IDENTITIES}
    assert seen == full, f"{method} {path}"
    for who in ("none", "bad", "expired", "revoked"):
        error = world.call(who, method, path, **kwargs).json()
        assert error["error_code"] == "UNAUTHENTICATED"


VIEW = {"outsider": 403, "viewer": 200, "querier": 200, "manager": 200, "admin": 200}
QUERY = {"outsider": 403, "viewer": 403, "querier": 200, "manager": 200, "admin": 200}
MANAGE = {"outsider": 403, "viewer": 403, "querier": 403, "manager": 200, "admin": 200}
ADMIN_ONLY = {"outsider": 403, "viewer": 403, "querier": 403, "manager": 403, "admin": 200}
ANYONE = {"outsider": 200, "viewer": 200, "querier": 200, "manager": 200, "admin": 200}


def test_endpoint_matrix(world: World) -> None:
    eid = world.endpoint_id
    expect(world, "GET", f"{BASE}/acl-endpoint", VIEW)
    expect(world, "POST", "/serving-endpoints/acl-endpoint/invocations", QUERY, json=world.body)
    expect(
        world,
        "POST",
        "/serving-endpoints/acl-endpoint/served-models/m/invocations",
        QUERY,
        json=world.body,
    )
    expect(world, "PATCH", f"{BASE}/acl-endpoint/tags", MANAGE, json={"add_tags": [{"key": "k"}]})
    bad_config = {"served_entities": []}  # allowed callers get past auth to a 400
    expect(
        world,
        "PUT",
        f"{BASE}/acl-endpoint/config",
        {**MANAGE, "manager": 400, "admin": 400},
        json=bad_config,
    )
    expect(world, "GET", f"{BASE}/acl-endpoint/served-models/m/logs", MANAGE)
    expect(world, "GET", f"{BASE}/acl-endpoint/served-models/m/build-logs", MANAGE)
    expect(world, "GET", f"/api/2.0/permissions/serving-endpoints/{eid}", VIEW)
    expect(world, "GET", f"/api/2.0/permissions/serving-endpoints/{eid}/permissionLevels", VIEW)
    expect(
        world,
        "PATCH",
        f"/api/2.0/permissions/serving-endpoints/{eid}",
        MANAGE,
        json={
            "access_control_list": [
                {"user_name": "viewer@example.com", "permission_level": "CAN_VIEW"}
            ]
        },
    )
    expect(world, "GET", BASE, ANYONE)
    expect(world, "POST", BASE, {**ADMIN_ONLY, "admin": 400}, json={"name": "acl-x"})
    expect(world, "GET", f"{SCIM}/Users", ADMIN_ONLY)
    expect(world, "GET", f"{SCIM}/Me", ANYONE)
    expect(world, "GET", "/api/2.0/token/list", ANYONE)
    expect(world, "GET", "/api/2.0/token-management/tokens", ADMIN_ONLY)
    expect(world, "GET", "/api/2.0/secrets/scopes/list", ADMIN_ONLY)
    expect(world, "GET", "/api/2.0/audit/events", ADMIN_ONLY)
    expect(world, "GET", "/api/2.0/mlflow/registered-models/search", ANYONE)
    expect(
        world,
        "POST",
        "/api/2.0/mlflow/endpoints/enable",
        ADMIN_ONLY,
        json={"registered_model_name": "bc-logreg"},
    )


def test_what_each_caller_sees(world: World) -> None:
    def listed(who: str) -> set[str]:
        return {e["name"] for e in world.call(who, "GET", BASE).json()["endpoints"]}

    assert "acl-endpoint" not in listed("outsider")
    for who in ("viewer", "querier", "manager", "admin"):
        assert "acl-endpoint" in listed(who)
        level = world.call(who, "GET", f"{BASE}/acl-endpoint").json()["permission_level"]
        assert level == {"viewer": "CAN_VIEW", "querier": "CAN_QUERY"}.get(who, "CAN_MANAGE")
    acl = world.call(
        "manager", "GET", f"/api/2.0/permissions/serving-endpoints/{world.endpoint_id}"
    )
    body = acl.json()
    assert body["object_id"] == f"/serving-endpoints/{world.endpoint_id}"
    assert body["object_type"] == "serving-endpoint"
    direct = {
        entry.get("user_name"): entry["all_permissions"][0]["permission_level"]
        for entry in body["access_control_list"]
        if not entry["all_permissions"][0]["inherited"]
    }
    assert direct["querier@example.com"] == "CAN_QUERY"


def test_entitlement_and_creator_rights(world: World, sklearn_versions: list[Registered]) -> None:
    gateway = world.gateway
    gateway.create_user("builder@example.com", ("allow-cluster-create",))
    builder, _ = gateway.token_for("builder@example.com")
    headers = {"Authorization": f"Bearer {builder}"}
    created = requests.post(
        f"{gateway.url}{BASE}",
        headers=headers,
        timeout=60,
        json={"name": "built", "config": {"served_entities": [sklearn_versions[1].entity("b")]}},
    )
    assert created.status_code == 200, created.text
    assert created.json()["creator"] == "builder@example.com"
    got = requests.get(f"{gateway.url}{BASE}/built", headers=headers, timeout=60).json()
    assert got["permission_level"] == "CAN_MANAGE"
    outsider = world.call("outsider", "GET", f"{BASE}/built")
    assert outsider.status_code == 403 and outsider.json()["error_code"] == "PERMISSION_DENIED"
    gateway.wait_for("built")
    assert world.call("manager", "DELETE", f"{BASE}/built").status_code == 403
    assert requests.delete(f"{gateway.url}{BASE}/built", headers=headers, timeout=60).ok


def test_group_membership_takes_effect_at_once(world: World) -> None:
    gateway = world.gateway
    member = gateway.create_user("member@example.com")
    token, _ = gateway.token_for("member@example.com")
    group = gateway.api(
        "POST", f"{SCIM}/Groups", json={"displayName": "scorers", "members": [{"value": member}]}
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    assert group.json()["members"][0]["value"] == member
    assert gateway.api(
        "PATCH",
        f"/api/2.0/permissions/serving-endpoints/{world.endpoint_id}",
        json={"access_control_list": [{"group_name": "scorers", "permission_level": "CAN_QUERY"}]},
    ).ok
    url = f"{gateway.url}/serving-endpoints/acl-endpoint/invocations"

    def query() -> int:
        return requests.post(
            url, headers={"Authorization": f"Bearer {token}"}, json=world.body, timeout=60
        ).status_code

    assert query() == 200
    removed = gateway.api(
        "PATCH",
        f"{SCIM}/Groups/{group_id}",
        json={"Operations": [{"op": "remove", "path": f'members[value eq "{member}"]'}]},
    )
    assert removed.status_code == 200 and removed.json()["members"] == []
    assert query() == 403
    gateway.api(
        "PATCH",
        f"{SCIM}/Groups/{group_id}",
        json={"Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}]},
    )
    assert query() == 200
    deactivated = gateway.api(
        "PATCH",
        f"{SCIM}/Users/{member}",
        json={"Operations": [{"op": "replace", "path": "active", "value": False}]},
    )
    assert deactivated.json()["active"] is False
    assert query() == 401


def test_token_lifecycle(world: World) -> None:
    gateway = world.gateway
    token = world.tokens["querier"]
    headers = {"Authorization": f"Bearer {token}"}
    own = requests.post(
        f"{gateway.url}/api/2.0/token/create",
        headers=headers,
        timeout=60,
        json={"comment": "laptop", "lifetime_seconds": 3600},
    )
    assert own.status_code == 200
    value, info = own.json()["token_value"], own.json()["token_info"]
    assert info["comment"] == "laptop" and info["expiry_time"] > info["creation_time"]
    second = {"Authorization": f"Bearer {value}"}
    assert requests.get(f"{gateway.url}{BASE}", headers=second, timeout=60).ok
    listed = requests.get(f"{gateway.url}/api/2.0/token/list", headers=headers, timeout=60)
    assert info["token_id"] in {t["token_id"] for t in listed.json()["token_infos"]}
    assert value not in listed.text, "a token's value is shown once, at creation"
    other = requests.post(
        f"{gateway.url}/api/2.0/token/delete",
        timeout=60,
        headers={"Authorization": f"Bearer {world.tokens['viewer']}"},
        json={"token_id": info["token_id"]},
    )
    assert other.status_code == 404, "nobody revokes another's token through /token/delete"
    assert requests.post(
        f"{gateway.url}/api/2.0/token/delete",
        headers=headers,
        timeout=60,
        json={"token_id": info["token_id"]},
    ).ok
    revoked = requests.get(f"{gateway.url}{BASE}", headers=second, timeout=60)
    assert revoked.status_code == 401
    time.sleep(2.5)  # last use is recorded in the background
    infos = gateway.api("GET", "/api/2.0/token-management/tokens").json()["token_infos"]
    querier = [t for t in infos if t["owner_id"] == world.ids["querier"]]
    assert querier and all("last_used_time" in t for t in querier)
    stored = (gateway.home / "servegate.db").read_bytes()
    assert token.encode() not in stored and value.encode() not in stored


def test_model_urls_sit_behind_the_same_checks(world: World) -> None:
    gateway = world.gateway
    # test_endpoint_matrix enabled serving of bc-logreg as admin.
    deadline = time.monotonic() + 120
    url = "/model/bc-logreg/1/invocations"
    while world.call("admin", "POST", url, json=world.body).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert world.call("querier", "POST", url, json=world.body).status_code == 403
    granted = gateway.api(
        "PATCH",
        "/api/2.0/permissions/serving-models/bc-logreg",
        json={
            "access_control_list": [
                {"user_name": "querier@example.com", "permission_level": "CAN_QUERY"},
                {"user_name": "viewer@example.com", "permission_level": "CAN_VIEW"},
            ]
        },
    )
    assert granted.status_code == 200, granted.text
    assert world.call("querier", "POST", url, json=world.body).status_code == 200
    assert world.call("viewer", "POST", url, json=world.body).status_code == 403
    status = "/api/2.0/mlflow/endpoints/get-status?registered_model_name=bc-logreg"
    assert world.call("viewer", "GET", status).status_code == 200
    assert world.call("outsider", "GET", status).status_code == 403
    # Registry changes that move what the served model answers need CAN_MANAGE on it.
    alias = {"name": "bc-logreg", "alias": "blessed", "version": "1"}
    move = {"name": "bc-logreg", "version": "2", "stage": "Staging"}
    for path, body in (
        ("registered-models/alias", alias),
        ("model-versions/transition-stage", move),
    ):
        denied = world.call("querier", "POST", f"/api/2.0/mlflow/{path}", json=body)
        assert denied.status_code == 403, denied.text
        assert denied.json()["error_code"] == "PERMISSION_DENIED"
    gateway.api(
        "PATCH",
        "/api/2.0/permissions/serving-models/bc-logreg",
        json={
            "access_control_list": [
                {"user_name": "manager@example.com", "permission_level": "CAN_MANAGE"}
            ]
        },
    )
    assert world.call("manager", "POST", "/api/2.0/mlflow/registered-models/alias", json=alias).ok
    read = world.call("querier", "GET", "/api/2.0/mlflow/registered-models/get?name=bc-logreg")
    assert (
        read.status_code == 200
        and read.json()["registered_model"]["aliases"][0]["alias"] == "blessed"
    )
    disable = {"registered_model_name": "bc-logreg"}
    assert (
        world.call("querier", "POST", "/api/2.0/mlflow/endpoints/disable", json=disable).status_code
        == 403
    )
    assert gateway.api("POST", "/api/2.0/mlflow/endpoints/disable", json=disable).ok
