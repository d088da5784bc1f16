"""How the Ray backend names applications and maps an entity's bounds and batching to Ray
Serve, as pure functions."""

from __future__ import annotations

from dataclasses import replace

from ray.serve.config import AutoscalingConfig

from servegate.backends.base import ReplicaKey, ReplicaSpec
from servegate.backends.ray_mapping import application_name, autoscaling_config, batching_of
from servegate.reconciler.autoscaling import ScalingTimings, scaling_bounds
from servegate.replica.batching import Batching

TIMINGS = ScalingTimings(up_delay_s=2.0, down_delay_s=60.0, idle_s=1800.0)


def test_workload_size_becomes_ray_autoscaling() -> None:
    config = autoscaling_config(scaling_bounds({"workload_size": "Large"}, 4), 4, TIMINGS)
    assert config == {
        "min_replicas": 4,
        "initial_replicas": 4,
        "max_replicas": 16,
        "target_ongoing_requests": 4,
        "upscale_delay_s": 2.0,
        "downscale_delay_s": 60.0,
        "downscale_to_zero_delay_s": 1800.0,
    }
    AutoscalingConfig(**config)  # Ray accepts it


def test_scale_to_zero_lets_ray_go_to_zero_but_starts_one() -> None:
    spec = {"workload_size": "Medium", "scale_to_zero_enabled": True}
    config = autoscaling_config(scaling_bounds(spec, 4), 4, TIMINGS)
    assert (config["min_replicas"], config["initial_replicas"], config["max_replicas"]) == (0, 1, 4)
    AutoscalingConfig(**config)


def test_provisioned_concurrency_from_zero_without_scale_to_zero_keeps_one() -> None:
    spec = {"min_provisioned_concurrency": 0, "max_provisioned_concurrency": 8}
    config = autoscaling_config(scaling_bounds(spec, 4), 4, TIMINGS)
    assert (config["min_replicas"], config["max_replicas"]) == (1, 2)


def test_application_names_are_route_safe_and_differ_per_start() -> None:
    key = ReplicaKey("model:churn/x", "3", "registered")
    first, second = application_name(key, 0), application_name(key, 1)
    assert first == "servegate-model-churn-x-3-register-0"
    assert first != second


def test_batching_takes_the_entity_settings_or_the_replica_defaults() -> None:
    key = ReplicaKey("e", "m", "h")
    plain = ReplicaSpec(key=key, log_group="g", model_uri="models:/m/1", concurrency=4)
    assert batching_of(plain) == Batching()
    tuned = replace(plain, max_batch_rows=32, max_batch_wait_ms=5.0)
    assert batching_of(tuned) == Batching(32, 0.005)
