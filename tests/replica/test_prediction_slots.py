"""Predictions that compute run one at a time; predictions that wait run up to the replica's
concurrency together; the limit follows what lone calls show."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio
import pytest

from servegate.replica.prediction_slots import PredictionSlots, thread_cpu_time


class Model:
    """A predict that waits (sleeps) or computes, counting how many of its calls run at once.

    Computing is told through the CPU clock the slots read: the thread's CPU time keeps pace
    with the wall clock while the call runs. (A thread spinning for real gets whatever share of
    a shared machine the scheduler gives it, which is not the test's to decide.)"""

    def __init__(self) -> None:
        self.waits = False
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def cpu_clock(self) -> float:
        return time.thread_time() if self.waits else time.perf_counter()

    def cpu_clock_of(self, thread: int) -> float:
        return thread_cpu_time(thread) if self.waits else time.perf_counter()

    def slots(self) -> PredictionSlots:
        return PredictionSlots(4, self.cpu_clock, self.cpu_clock_of)

    def predict(self, seconds: float | None = None) -> str:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(seconds if seconds is not None else 0.05 if self.waits else 0.02)
            return "answer"
        finally:
            with self._lock:
                self.running -= 1


def calls_at_once(slots: PredictionSlots, predict: Callable[[], str], count: int) -> list[str]:
    answers: list[str] = []

    async def one() -> None:
        answers.append(await slots.run(predict))

    async def all_of_them() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)

    anyio.run(all_of_them)
    return answers


def test_predictions_that_compute_run_one_at_a_time() -> None:
    model = Model()
    slots = model.slots()
    assert calls_at_once(slots, model.predict, 8) == ["answer"] * 8
    assert model.most_at_once == 1
    assert slots.limiter.total_tokens == 1


def test_predictions_that_wait_run_together_up_to_the_concurrency() -> None:
    model = Model()
    slots = model.slots()
    model.waits = True
    assert calls_at_once(slots, model.predict, 1) == ["answer"]  # alone: it waited
    assert calls_at_once(slots, model.predict, 12) == ["answer"] * 12
    assert model.most_at_once == 4


def test_the_limit_follows_what_lone_calls_show() -> None:
    model = Model()
    slots = model.slots()
    model.waits = True
    calls_at_once(slots, model.predict, 1)
    assert slots.limiter.total_tokens == 4
    calls_at_once(slots, model.predict, 8)  # overlapping calls say nothing
    assert slots.limiter.total_tokens == 4
    model.waits = False
    calls_at_once(slots, model.predict, 2)  # nor do two that computed together, taking turns
    assert slots.limiter.total_tokens == 4
    calls_at_once(slots, model.predict, 1)
    assert slots.limiter.total_tokens == 1
    model.most_at_once = 0
    calls_at_once(slots, model.predict, 8)
    assert model.most_at_once == 1


def long_call_then_short_ones(model: Model, long_s: float) -> list[str]:
    """A lone call of ``long_s`` and, 0.1 s into it, three short ones: who finished when."""
    slots = model.slots()
    finished: list[str] = []

    async def call(name: str, seconds: float) -> None:
        await slots.run(model.predict, seconds)
        finished.append(name)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(call, "long", long_s)
            await anyio.sleep(0.1)
            for n in range(3):
                group.start_soon(call, f"short-{n}", 0.01)

    anyio.run(main)
    return finished


def test_a_lone_call_seen_waiting_lets_the_next_ones_in() -> None:
    """Nothing is known of the model yet (one slot); a long call that waits is looked at by
    the requests queueing behind it, which then run beside it rather than after it."""
    model = Model()
    model.waits = True
    finished = long_call_then_short_ones(model, 0.5)
    assert finished[-1] == "long" and model.most_at_once >= 2


def test_a_lone_call_seen_computing_keeps_the_others_waiting() -> None:
    model = Model()
    finished = long_call_then_short_ones(model, 0.3)
    assert finished[0] == "long" and model.most_at_once == 1


def test_a_failing_prediction_frees_its_slot() -> None:
    slots = PredictionSlots(4)

    def fails() -> str:
        raise ValueError("bad input")

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(ValueError, match="bad input"):
                await slots.run(fails)
        assert await slots.run(lambda: "answer") == "answer"

    anyio.run(twice)
    assert slots.limiter.borrowed_tokens == 0
