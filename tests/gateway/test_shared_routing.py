"""The routing snapshot survives the trip through the store, without environment values."""

from __future__ import annotations

import asyncio
import json

from servegate.backends.base import ReplicaHandle, ReplicaKey, ReplicaSpec, ReplicaStatus
from servegate.backends.clients import ReplicaClient, ReplicaClients
from servegate.gateway.rate_limits import RateLimit
from servegate.gateway.routing import EndpointRoutes, ModelRoutes
from servegate.gateway.shared_routing import decode, encode
from servegate.reconciler.model_status import ModelStatus, VersionStatus


def handle(address: str, status: ReplicaStatus, secret: str = "") -> ReplicaHandle:
    spec = ReplicaSpec(
        ReplicaKey("e1", "m", "abc"),
        "endpoints/shop",
        "models:/churn/3",
        4,
        environment_vars={"API_KEY": secret} if secret else {},
    )
    return ReplicaHandle(spec, address, ReplicaClient(address), status=status, message="ok")


def test_round_trip_keeps_routes_states_and_limits_but_no_environment() -> None:
    ready = handle("unix:/run/a.sock", ReplicaStatus.READY, secret="s3cr3t")
    starting = handle("unix:/run/b.sock", ReplicaStatus.STARTING)
    endpoints = {
        "shop": EndpointRoutes(
            "e1",
            "shop",
            2,
            (("m", 80), ("n", 20)),
            {"m": (ready,), "n": (starting,)},
            (RateLimit(100), RateLimit(5, "user", "ana")),
            capture=True,
            models={"m": ("churn", "3"), "n": ("spec", None)},
        ),
        "new": EndpointRoutes("e2", "new", None),
    }
    status = ModelStatus(
        "churn",
        "ENDPOINT_STATE_READY",
        "Serving 1 version(s).",
        {"3": VersionStatus("VERSION_STATE_READY", "Serving.")},
        {"Production": "3", "": "3"},
    )
    models = {"churn": ModelRoutes(status, {"3": ready, "2": None})}

    body = encode(endpoints, models)
    assert "s3cr3t" not in json.dumps(body)

    async def through_a_follower() -> tuple[dict, dict]:
        clients = ReplicaClients()
        try:
            return decode(json.loads(json.dumps(body)), clients)
        finally:
            await clients.close()

    got_endpoints, got_models = asyncio.run(through_a_follower())
    shop = got_endpoints["shop"]
    assert (shop.id, shop.config_version, shop.routes) == ("e1", 2, (("m", 80), ("n", 20)))
    assert shop.available() == {"m"}, "only the ready replica is routable"
    assert shop.rate_limits == (RateLimit(100), RateLimit(5, "user", "ana"))
    assert shop.capture and shop.models == {"m": ("churn", "3"), "n": ("spec", None)}
    assert not got_endpoints["new"].capture
    assert shop.replicas["m"][0].spec.model_uri == "models:/churn/3"
    assert got_endpoints["new"].config_version is None
    churn = got_models["churn"]
    assert churn.status == status
    assert churn.versions["2"] is None
    assert churn.versions["3"] is shop.replicas["m"][0], "one handle per replica address"
