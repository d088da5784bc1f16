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
A request that finds every slot taken by a lone call running for a while looks at that
call's thread too, and opens the limit at once if it is waiting: a model that calls out
could otherwise make the first quick call look like computing, and hold everyone behind a
slow one until it ends.
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
WATCHED_AFTER_S = 0.01  # a lone call running this long is looked at by requests waiting


def thread_cpu_time(thread: int) -> float:
    """The CPU time of another thread of this process (``threading.get_ident()``)."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread))


class PredictionSlots:
    def __init__(
        self,
        most: int,
        cpu_clock: Callable[[], float] = time.thread_time,
        cpu_clock_of: Callable[[int], float] = thread_cpu_time,
    ) -> None:
        """``cpu_clock`` reads the CPU time of the thread calling it, ``cpu_clock_of`` that
        of another thread, by the same clock."""
        self.most = most
        self._cpu_clock = cpu_clock
        self._cpu_clock_of = cpu_clock_of
        self.limiter = anyio.CapacityLimiter(1)
        self._lock = threading.Lock()
        self._running = 0
        self._started = 0
        self._lone: tuple[int, float, float] | None = None  # thread, wall and CPU at start

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread, when a slot is free."""
        if self.limiter.available_tokens == 0 and self.limiter.total_tokens < self.most:
            self._open_if_the_lone_call_waits()
        result, cpu_share = await anyio.to_thread.run_sync(
            self._observed, function, *args, limiter=self.limiter
        )
        if cpu_share is not None:
            slots = self.most if cpu_share < WAITED else 1
            if self.limiter.total_tokens != slots:
                self.limiter.total_tokens = slots
        return result

    def _open_if_the_lone_call_waits(self) -> None:
        lone = self._lone
        if lone is None:
            return
        thread, wall, cpu = lone
        wall = time.perf_counter() - wall
        if wall < WATCHED_AFTER_S:
            return
        try:
            cpu = self._cpu_clock_of(thread) - cpu
        except OSError:  # the thread is gone
            return
        if self._lone is lone and cpu / wall < WAITED:
            self.limiter.total_tokens = self.most

    def _observed(self, function: Callable[..., T], *args: object) -> tuple[T, float | None]:
        """The result, and the share of its wall time the call's thread was on the CPU if
        the call ran alone (else None)."""
        wall, cpu = time.perf_counter(), self._cpu_clock()
        with self._lock:
            self._running += 1
            self._started += 1
            started, alone = self._started, self._running == 1
            self._lone = (threading.get_ident(), wall, cpu) if alone else None
        try:
            result = function(*args)
        finally:
            with self._lock:
                self._running -= 1
                alone = alone and self._started == started
                self._lone = None
        wall, cpu = time.perf_counter() - wall, self._cpu_clock() - cpu
        return result, (cpu / wall if alone and wall > 0 else None)
