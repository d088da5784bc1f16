"""What the API's endpoint JSON means to a reader: a state label and the traffic split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str  # ok, busy, bad, idle: the CSS class

    @property
    def settled(self) -> bool:
        """Nothing will change without a new request: no need to keep polling."""
        return self.tone in ("ok", "bad")


@dataclass(frozen=True)
class Share:
    name: str
    percent: int
    slot: int  # which of the palette's colours


def state_badge(endpoint: dict[str, Any]) -> Badge:
    state = endpoint.get("state", {})
    update = state.get("config_update")
    if update == "UPDATE_FAILED":
        return Badge("Update failed", "bad")
    if update == "IN_PROGRESS":
        return Badge("Updating", "busy")
    if state.get("ready") == "READY":
        return Badge("Ready", "ok")
    if _any_failed(endpoint.get("config", {})):
        return Badge("Failed", "bad")
    return Badge("Not ready", "busy")


def deployment_badge(deployment: str | None) -> Badge:
    """A served model's ``state.deployment``."""
    labels = {
        "DEPLOYMENT_READY": Badge("Ready", "ok"),
        "DEPLOYMENT_CREATING": Badge("Creating", "busy"),
        "DEPLOYMENT_RECOVERING": Badge("Recovering", "busy"),
        "DEPLOYMENT_FAILED": Badge("Failed", "bad"),
    }
    return labels.get(deployment or "", Badge(deployment or "Unknown", "idle"))


def traffic_shares(config: dict[str, Any] | None) -> list[Share]:
    """Each served model's share of requests, in the config's order."""
    if not config:
        return []
    routes = {
        route.get("served_entity_name") or route.get("served_model_name"): route[
            "traffic_percentage"
        ]
        for route in config.get("traffic_config", {}).get("routes", [])
    }
    names = [entity["name"] for entity in config.get("served_entities", [])]
    if not routes and len(names) == 1:
        routes = {names[0]: 100}
    return [Share(name, routes.get(name, 0), slot % 10) for slot, name in enumerate(names)]


def _any_failed(config: dict[str, Any]) -> bool:
    return any(
        entity.get("state", {}).get("deployment") == "DEPLOYMENT_FAILED"
        for entity in config.get("served_entities", [])
    )


def serving_badge(state: str | None) -> Badge:
    """Per-model serving's ``ENDPOINT_STATE_*`` or a version's ``VERSION_STATE_*``."""
    tones = {"READY": "ok", "PENDING": "busy", "LAUNCHING": "busy", "FAILED": "bad"}
    word = (state or "").rpartition("_")[2]
    if word not in tones:
        return Badge(state or "Unknown", "idle")
    return Badge(word.capitalize(), tones[word])
