"""Predictions that compute run one at a time; predictions that wait run up to the replica's
concurrency together; the limit follows what lone calls show."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio
import pytest

from servegate.replica.prediction_slots import PredictionSlots


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

    def predict(self) -> str:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(0.05 if self.waits else 0.02)
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
    slots = PredictionSlots(4, model.cpu_clock)
    assert calls_at_once(slots, model.predict, 8) == ["answer"] * 8
    assert model.most_at_once == 1
    assert slots.limiter.total_tokens == 1


def test_predictions_that_wait_run_together_up_to_the_concurrency() -> None:
    model = Model()
    slots = PredictionSlots(4, model.cpu_clock)
    model.waits = True
    assert calls_at_once(slots, model.predict, 1) == ["answer"]  # alone: it waited
    assert calls_at_once(slots, model.predict, 12) == ["answer"] * 12
    assert model.most_at_once == 4


def test_the_limit_follows_what_lone_calls_show() -> None:
    model = Model()
    slots = PredictionSlots(4, model.cpu_clock)
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
