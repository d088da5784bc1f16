"""Autoscaling: how many replicas a served entity should run, as pure functions of its load.

Bounds come from the entity's config. ``workload_size`` Small / Medium / Large is a
provisioned concurrency of 4–4 / 8–16 / 16–64 requests, or ``min/max_provisioned_concurrency``
say it outright; one replica answers ``slots`` requests at once, so the bounds in replicas are
those numbers divided by ``slots``, rounded up. With ``scale_to_zero_enabled`` the lower bound
is zero: an entity with no request for ``idle_s`` runs no replica until the next one.

The load is the mean number of requests in flight over the last interval, as the replicas
count them (so it is right whichever gateway process sent them). The policy asks for
``ceil(load / slots)`` replicas within the bounds; the count moves only once the load has
asked for a higher count for ``up_delay_s``, or a lower one for ``down_delay_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from servegate.backends.base import ScalingBounds

MODEL_REPLICA_CONCURRENCY = 4  # the slots of a replica: requests it answers at once

WORKLOAD_BOUNDS = {"Small": (4, 4), "Medium": (8, 16), "Large": (16, 64)}


@dataclass(frozen=True)
class ScalingTimings:
    up_delay_s: float = 2.0
    down_delay_s: float = 60.0
    idle_s: float = 1800.0


DEFAULT_TIMINGS = ScalingTimings()


@dataclass(frozen=True)
class ScalingState:
    replicas: int  # the count asked for now; 0 when scaled to zero
    last_request_at: float
    wanted: int | None = None  # a different count the load asks for, and since when
    wanted_since: float = 0.0


def scaling_bounds(spec: dict[str, Any], slots: int) -> ScalingBounds:
    """The replica bounds of a served entity's stored spec."""
    low, high = WORKLOAD_BOUNDS.get(spec.get("workload_size") or "Small", (4, 4))
    if spec.get("max_provisioned_concurrency"):
        low = spec.get("min_provisioned_concurrency") or 0
        high = spec["max_provisioned_concurrency"]
    scale_to_zero = bool(spec.get("scale_to_zero_enabled"))
    min_replicas = 0 if scale_to_zero else math.ceil(low / slots)
    max_replicas = max(1, math.ceil(high / slots), min_replicas)
    return ScalingBounds(min_replicas, max_replicas, scale_to_zero)


def wanted_replicas(load: float, slots: int, bounds: ScalingBounds) -> int:
    """Replicas enough for ``load`` requests in flight, within the bounds (never zero)."""
    return min(bounds.max_replicas, max(bounds.floor, math.ceil(load / slots - 1e-9)))


def next_scaling(
    state: ScalingState,
    bounds: ScalingBounds,
    *,
    slots: int,
    load: float,
    had_requests: bool,
    now: float,
    timings: ScalingTimings,
) -> ScalingState:
    """The state after one observation: ``load`` is the mean in flight since the last one,
    ``had_requests`` whether any request arrived in that time."""
    if had_requests:
        state = replace(state, last_request_at=now)
    if state.replicas == 0:
        return state  # asleep: only a request wakes it (``woken``)
    if bounds.scale_to_zero and now - state.last_request_at >= timings.idle_s:
        return ScalingState(0, state.last_request_at)
    wanted = wanted_replicas(load, slots, bounds)
    if wanted == state.replicas:
        return replace(state, wanted=None)
    rising = wanted > state.replicas
    same_direction = state.wanted is not None and (state.wanted > state.replicas) == rising
    since = state.wanted_since if same_direction else now
    delay = timings.up_delay_s if rising else timings.down_delay_s
    if now - since >= delay:
        return ScalingState(wanted, state.last_request_at)
    return replace(state, wanted=wanted, wanted_since=since)


def woken(state: ScalingState, bounds: ScalingBounds, now: float) -> ScalingState:
    """A request arrived for an entity scaled to zero: run the fewest replicas again."""
    if state.replicas:
        return replace(state, last_request_at=now)
    return ScalingState(bounds.floor, now)
