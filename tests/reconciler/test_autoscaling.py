"""The autoscaling policy, as pure functions: bounds from configs, delays, idle, wake."""

from __future__ import annotations

import pytest

from servegate.reconciler.autoscaling import (
    ScalingBounds,
    ScalingState,
    ScalingTimings,
    next_scaling,
    scaling_bounds,
    wanted_replicas,
    woken,
)

TIMINGS = ScalingTimings(up_delay_s=2.0, down_delay_s=10.0, idle_s=60.0)


@pytest.mark.parametrize(
    ("spec", "slots", "bounds"),
    [
        ({"workload_size": "Small"}, 4, ScalingBounds(1, 1, False)),
        ({"workload_size": "Medium"}, 4, ScalingBounds(2, 4, False)),
        ({"workload_size": "Large"}, 4, ScalingBounds(4, 16, False)),
        ({"workload_size": "Large"}, 16, ScalingBounds(1, 4, False)),
        ({"workload_size": "Medium", "scale_to_zero_enabled": True}, 4, ScalingBounds(0, 4, True)),
        (
            {"min_provisioned_concurrency": 2, "max_provisioned_concurrency": 9},
            4,
            ScalingBounds(1, 3, False),
        ),
        (
            {"min_provisioned_concurrency": 0, "max_provisioned_concurrency": 4},
            4,
            ScalingBounds(0, 1, False),
        ),
        ({"max_provisioned_concurrency": 3}, 1, ScalingBounds(0, 3, False)),
        ({}, 4, ScalingBounds(1, 1, False)),
    ],
)
def test_bounds_follow_the_config(spec: dict, slots: int, bounds: ScalingBounds) -> None:
    assert scaling_bounds(spec, slots) == bounds


def test_small_without_scale_to_zero_is_fixed() -> None:
    assert scaling_bounds({"workload_size": "Small"}, 4).fixed
    assert not scaling_bounds({"workload_size": "Small", "scale_to_zero_enabled": True}, 4).fixed


@pytest.mark.parametrize(
    ("load", "wanted"), [(0, 1), (0.5, 1), (4, 1), (4.01, 2), (9, 3), (100, 4)]
)
def test_wanted_replicas_cover_the_load_within_bounds(load: float, wanted: int) -> None:
    assert wanted_replicas(load, 4, ScalingBounds(1, 4)) == wanted


ELASTIC = ScalingBounds(1, 4)


def step(
    state: ScalingState,
    load: float,
    now: float,
    bounds: ScalingBounds = ELASTIC,
    had: bool = True,
) -> ScalingState:
    return next_scaling(
        state, bounds, slots=4, load=load, had_requests=had, now=now, timings=TIMINGS
    )


def test_scale_up_only_after_the_load_lasted_the_up_delay() -> None:
    state = ScalingState(1, 0.0)
    state = step(state, 12, 0.0)
    assert state.replicas == 1 and state.wanted == 3
    state = step(state, 9, 1.0)
    assert state.replicas == 1, "a rise shorter than the delay moves nothing"
    state = step(state, 9, 2.0)
    assert state.replicas == 3 and state.wanted is None


def test_a_dip_resets_the_delay() -> None:
    state = step(ScalingState(1, 0.0), 12, 0.0)
    state = step(state, 1, 1.5)  # the load fell back: nothing wanted any more
    assert state.wanted is None
    state = step(state, 12, 2.5)
    assert state.replicas == 1, "the rise restarted at 2.5 s"
    assert step(state, 12, 4.5).replicas == 3


def test_scale_down_waits_for_the_down_delay() -> None:
    state = ScalingState(4, 0.0)
    state = step(state, 2, 0.0)
    assert step(state, 2, 9.9).replicas == 4
    assert step(state, 2, 10.0).replicas == 1


def test_never_below_one_while_awake_nor_above_max() -> None:
    state = ScalingState(1, 0.0)
    for now in range(0, 100, 5):
        state = step(state, 0, float(now), had=False)
    assert state.replicas == 1, "no scale to zero without scale_to_zero_enabled"
    state = ScalingState(4, 0.0)
    for now in range(0, 10):
        state = step(state, 1000, float(now))
    assert state.replicas == 4


def test_scale_to_zero_after_idle_and_wake() -> None:
    bounds = ScalingBounds(0, 2, True)
    state = step(ScalingState(1, 0.0), 1, 0.0, bounds)
    state = step(state, 0, 59.0, bounds, had=False)
    assert state.replicas == 1
    state = step(state, 0, 60.0, bounds, had=False)
    assert state.replicas == 0
    assert step(state, 0, 1000.0, bounds, had=False).replicas == 0, "only a request wakes it"
    awake = woken(state, bounds, 1000.0)
    assert awake.replicas == 1 and awake.last_request_at == 1000.0
    assert step(awake, 0, 1059.0, bounds, had=False).replicas == 1


def test_requests_keep_it_awake() -> None:
    bounds = ScalingBounds(0, 1, True)
    state = ScalingState(1, 0.0)
    for now in range(0, 600, 30):
        state = step(state, 0.1, float(now), bounds, had=True)
    assert state.replicas == 1
