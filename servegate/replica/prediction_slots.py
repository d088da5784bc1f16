"""How many pyfunc predictions run at once: one while they compute, up to the replica's
``--concurrency`` while they wait.

Predictions run in worker threads, so the event loop keeps answering. A prediction that
computes in Python holds the GIL: several at once only take turns, and the turns cost. For a
custom pyfunc model around a scikit-learn pipeline, four at once against one at a time spent
2.9 against 2.3 ms of CPU per request (GIL hand-offs, half of the extra in the kernel) and
answered 351 against 432 req/s, p99 41 against 22 ms. Several at once pay only for
predictions that wait: on I/O, a sleep, a lock, native code working without the GIL.

So the limit starts at one, and each call that ran alone (no other prediction started or
ran while it did) says which kind the model is: a call whose thread was on the CPU for less
than a third of its wall time waited, and opens the limit to ``most``; a call that computed
closes it to one. Calls that overlapped say nothing: each waited for the GIL the others held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

WAITED = 1 / 3  # a lone call on the CPU for less than this share of its wall time waited


class PredictionSlots:
    def __init__(self, most: int, cpu_clock: Callable[[], float] = time.thread_time) -> None:
        """``cpu_clock`` reads the CPU time of the thread calling it."""
        self.most = most
        self._cpu_clock = cpu_clock
        self.limiter = anyio.CapacityLimiter(1)
        self._lock = threading.Lock()
        self._running = 0
        self._started = 0

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread, when a slot is free."""
        result, cpu_share = await anyio.to_thread.run_sync(
            self._observed, function, *args, limiter=self.limiter
        )
        if cpu_share is not None:
            slots = self.most if cpu_share < WAITED else 1
            if self.limiter.total_tokens != slots:
                self.limiter.total_tokens = slots
        return result

    def _observed(self, function: Callable[..., T], *args: object) -> tuple[T, float | None]:
        """The result, and the share of its wall time the call's thread was on the CPU if
        the call ran alone (else None)."""
        with self._lock:
            self._running += 1
            self._started += 1
            started, alone = self._started, self._running == 1
        wall, cpu = time.perf_counter(), self._cpu_clock()
        try:
            result = function(*args)
        finally:
            with self._lock:
                self._running -= 1
                alone = alone and self._started == started
        wall, cpu = time.perf_counter() - wall, self._cpu_clock() - cpu
        return result, (cpu / wall if alone and wall > 0 else None)
