"""Batching under a closed loop of clients: calls keep every client's request together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from servegate.replica.batching import Batcher

CLIENTS = 8
ROUNDS = 5


def _busy_predict(rows: np.ndarray) -> np.ndarray:
    """50 ms of CPU whatever the rows, as a forest spends on its trees: a worker thread's."""
    started = time.thread_time()
    while time.thread_time() - started < 0.05:
        pass
    return rows[:, 0] * 2


def _closed_loop(way_back: Callable[[int], float]) -> list[int]:
    """The rows of each call made for eight clients that each send a request, wait for its
    answer, take ``way_back(client)`` seconds, and send the next; their answers checked."""
    calls: list[int] = []

    async def client(batcher: Batcher, number: int) -> list[float]:
        answers = []
        for round_ in range(ROUNDS):
            row = np.array([[float(number * 100 + round_)]])
            answers.append(float((await batcher.submit(row))[0]))
            await asyncio.sleep(way_back(number))
        return answers

    async def main() -> list[list[float]]:
        batcher = Batcher(_busy_predict, on_batch=calls.append)
        return await asyncio.gather(*(client(batcher, n) for n in range(CLIENTS)))

    answers = asyncio.run(main())
    assert answers == [[2.0 * (n * 100 + r) for r in range(ROUNDS)] for n in range(CLIENTS)]
    return calls


def test_clients_coming_back_spread_out_share_one_call() -> None:
    """Answers reach clients one by one (through a gateway, say) and their next requests come
    back up to 1.5 ms apart; each call still takes all eight, not the first arrivals alone
    and the rest in a second call."""
    assert _closed_loop(lambda number: 0.0005 * (number % 4)) == [CLIENTS] * ROUNDS


def test_clients_coming_back_after_a_dead_time_share_one_call() -> None:
    """Behind a gateway that passes a call's answers on, and the next requests in, one at a
    time, the first request is back well after the call (here 10-20 ms after a 50 ms one), the
    rest right behind it: each call still waits for all eight."""
    assert _closed_loop(lambda number: 0.010 + 0.0015 * number) == [CLIENTS] * ROUNDS


def test_a_lone_client_is_predicted_call_by_call() -> None:
    calls: list[int] = []

    async def main() -> list[float]:
        batcher = Batcher(lambda rows: rows[:, 0] + 1, on_batch=calls.append)
        return [float((await batcher.submit(np.array([[float(i)]])))[0]) for i in range(5)]

    assert asyncio.run(main()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert calls == [1] * 5
