"""How servegate's served entities map onto Ray Serve: names, autoscaling, batching. Pure
functions of the entity's spec, so they are tested without a cluster."""

from __future__ import annotations

import re
from typing import Any

from servegate.backends.base import ReplicaKey, ReplicaSpec
from servegate.reconciler.autoscaling import ScalingBounds, ScalingTimings
from servegate.replica.batching import DEFAULT_MAX_ROWS, Batching

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def application_name(key: ReplicaKey, restarts: int) -> str:
    """A Serve application name, also its route prefix: unique per entity and start."""
    name = f"servegate-{key.endpoint_id}-{key.served_name}-{key.spec_hash[:8]}-{restarts}"
    return _UNSAFE.sub("-", name)


def autoscaling_config(
    bounds: ScalingBounds, slots: int, timings: ScalingTimings
) -> dict[str, Any]:
    """The entity's bounds and servegate's scaling timings as Ray Serve autoscaling: aim at
    ``slots`` requests in flight per replica (what one replica answers at once), start with
    the fewest awake replicas, and go to zero after ``idle_s`` only with scale to zero."""
    return {
        "min_replicas": 0 if bounds.scale_to_zero else bounds.floor,
        "initial_replicas": bounds.floor,
        "max_replicas": bounds.max_replicas,
        "target_ongoing_requests": slots,
        "upscale_delay_s": timings.up_delay_s,
        "downscale_delay_s": timings.down_delay_s,
        "downscale_to_zero_delay_s": timings.idle_s,
    }


def deployment_name(spec: ReplicaSpec) -> str:
    return _UNSAFE.sub("-", spec.served_name)


def batching_of(spec: ReplicaSpec) -> Batching:
    """The entity's batching settings, the replica's defaults where it has none."""
    return Batching(spec.max_batch_rows or DEFAULT_MAX_ROWS, (spec.max_batch_wait_ms or 0) / 1000)
