"""Dynamic batching: the rows of concurrent requests go to the model in one predict call.

An idle replica never makes a request wait for company: its rows go at once. While a predict
runs, the requests that arrive queue up, and the next call takes all of them (up to
``max_rows`` rows), then splits the predictions back by each request's row count. A forest
predicts 32 rows in the time of one, so under load this multiplies throughput; idle, it
costs nothing. ``max_wait_s`` (default 0) optionally holds a batch open to gather more.

Under load the next call waits for the clients the last call answered to come back with
their next requests, to be predicted with those already queued. Without it, clients in a
closed loop settle into groups: while one group's call runs the other's requests queue, each
call takes one group, and a forest at 8 connections predicts 4 rows per call at half the
throughput it has when all 8 share a call (bench: 400 against 800 requests/s, either way from
one run to the next). Behind a gateway, which passes a call's answers on and the next
requests in one at a time, the first of them is back only after a while and the rest follow
close behind: 64 connections to a forest came back over ~4 ms after a 6 ms call, so a call
that waited a tenth of its time took 34 rows where one waiting 4 ms would have taken 64 (a
quarter more requests a second through the gateway, each answered sooner). So the wait
lasts until the expected requests are all queued, or:
- nothing came within half a call's time (``COMPANY_FIRST_SHARE``);
- they stopped coming at least half again as fast (``COMPANY_PACE``) as the call, run now,
  would answer the rows queued (checked every tenth of a call's time, the first after the
  first arrival): independent clients, who keep arriving at the rate they are answered,
  end the wait at the first check;
- it lasted as long as a call (``COMPANY_MAX_SHARE``).

Alone, a request is never held: a call that answered one request with nothing queued expects
no company.

If a merged call fails, each request of it is predicted alone, so one bad request fails
only itself.

A model whose calls take well under a millisecond of CPU (a moving average of the calling
thread's CPU time, which a busy machine does not inflate as it does wall time; at most
``INLINE_MAX_ROWS`` rows) is called on the event loop: handing a 0.3 ms predict to a worker
thread costs more in the hop and the GIL handover than the predict itself. Slower models, and
every model until its first call is timed, run in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np

DEFAULT_MAX_ROWS = 256
INLINE_BELOW_S = 0.001
INLINE_MAX_ROWS = 64
COMPANY_FIRST_SHARE = 0.5
COMPANY_PACE_SHARE = 0.1
COMPANY_PACE = 1.5
COMPANY_MAX_SHARE = 1.0
_UNKNOWN = float("inf")


@dataclass(frozen=True)
class Batching:
    """How a served model batches: at most ``max_rows`` rows per predict call, and how long
    a batch may wait for more (0: never)."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_wait_s: float = 0.0


NO_WAIT_BATCHING = Batching()


@dataclass
class _Waiting:
    rows: np.ndarray
    answer: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],
        max_rows: int = DEFAULT_MAX_ROWS,
        max_wait_s: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """``on_batch``: told the rows of every predict call (the batch-size metric)."""
        self.predict = predict
        self.on_batch = on_batch
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self._queue: deque[_Waiting] = deque()
        self._draining: asyncio.Task[None] | None = None
        self._call_s = _UNKNOWN  # moving average of a predict call's CPU time
        self._call_wall_s = _UNKNOWN  # ... and of its wall time, the thread hop included
        self._expected = 1  # requests the next call expects: those answered last, and queued
        self._company: _Company | None = None  # while a call waits for its company

    async def submit(self, rows: np.ndarray) -> Any:
        """The model's predictions for ``rows``, predicted alongside whatever else is waiting."""
        waiting = _Waiting(rows)
        self._queue.append(waiting)
        if self._company is not None:
            self._company.arrived(len(rows), self._company_arrived())
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        while self._queue:
            if self.max_wait_s and self._queued_rows() < self.max_rows:
                await asyncio.sleep(self.max_wait_s)
            else:
                await self._await_company()
            batch = self._take()
            try:
                await self._predict_batch(batch)
            except Exception as error:  # noqa: BLE001 - each request gets its own outcome
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
            self._expected = len(batch) + len(self._queue)
            # Let the answered requests respond and new ones arrive before the next call
            # (an inline predict never yields by itself).
            await asyncio.sleep(0)

    def _queued_rows(self) -> int:
        return sum(len(waiting.rows) for waiting in self._queue)

    def _company_arrived(self) -> bool:
        return len(self._queue) >= self._expected or self._queued_rows() >= self.max_rows

    async def _await_company(self) -> None:
        """Wait until the requests the next call expects are queued, while they come faster
        than the model answers rows (see the module's docstring)."""
        if self._expected <= 1 or self._call_wall_s == _UNKNOWN or self._company_arrived():
            return
        self._company = _Company(self._call_wall_s, self._queued_rows)
        try:
            await self._company.done
        finally:
            self._company.close()
            self._company = None

    def _take(self) -> list[_Waiting]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self.max_rows:
            waiting = self._queue.popleft()
            batch.append(waiting)
            rows += len(waiting.rows)
        return batch

    async def _predict_batch(self, batch: list[_Waiting]) -> None:
        if self.on_batch is not None:
            self.on_batch(sum(len(waiting.rows) for waiting in batch))
        if len(batch) == 1:
            await self._predict_alone(batch[0])
            return
        rows = sum(len(waiting.rows) for waiting in batch)
        try:
            merged = np.concatenate([waiting.rows for waiting in batch])
            predictions = await self._run(merged)
        except Exception:  # noqa: BLE001 - find out whose request it was
            predictions = None
        if predictions is None or not _splittable(predictions, rows):
            for waiting in batch:
                await self._predict_alone(waiting)
            return
        start = 0
        for waiting in batch:
            end = start + len(waiting.rows)
            if not waiting.answer.done():  # the client may have gone
                waiting.answer.set_result(predictions[start:end])
            start = end

    async def _run(self, rows: np.ndarray) -> Any:
        """Predict on the event loop when calls are known to take well under a millisecond
        (a thread hop and the GIL handover would cost more); in a worker thread otherwise,
        so a slow model never stalls the loop."""
        started = time.perf_counter()
        try:
            if self._call_s < INLINE_BELOW_S and len(rows) <= INLINE_MAX_ROWS:
                return self._timed(rows)
            return await anyio.to_thread.run_sync(self._timed, rows)
        finally:
            self._call_wall_s = _averaged(self._call_wall_s, time.perf_counter() - started)

    def _timed(self, rows: np.ndarray) -> Any:
        started = time.thread_time()
        try:
            return self.predict(rows)
        finally:
            self._observe(time.thread_time() - started)

    def _observe(self, seconds: float) -> None:
        self._call_s = _averaged(self._call_s, seconds)

    async def _predict_alone(self, waiting: _Waiting) -> None:
        try:
            result = await self._run(waiting.rows)
        except Exception as error:  # noqa: BLE001 - the request's own failure, returned to it
            if not waiting.answer.done():
                waiting.answer.set_exception(error)
            return
        if not waiting.answer.done():
            waiting.answer.set_result(result)


class _Company:
    """One call's wait for its company: done when it is all here, when nothing came within
    ``COMPANY_FIRST_SHARE`` of a call's time, when it stops coming faster than the call would
    answer rows, or after a call's time."""

    def __init__(self, call_s: float, queued_rows: Callable[[], int]) -> None:
        self._loop = asyncio.get_running_loop()
        self._call_s = call_s
        self._queued_rows = queued_rows
        self._started = time.perf_counter()
        self._first: float | None = None  # when the first request came
        self._rows = 0  # rows come after it
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._timer = self._loop.call_later(COMPANY_FIRST_SHARE * call_s, self._check)

    def arrived(self, rows: int, all_here: bool) -> None:
        if all_here:
            self._end()
        elif self._first is None:  # the pace is measured from here
            self._first = time.perf_counter()
            self._timer.cancel()
            self._timer = self._loop.call_later(COMPANY_PACE_SHARE * self._call_s, self._check)
        else:
            self._rows += rows

    def close(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        now = time.perf_counter()
        waited = now - self._started
        if self._first is None or waited >= COMPANY_MAX_SHARE * self._call_s:
            self._end()
            return
        coming = self._rows / max(now - self._first, 1e-6)  # rows a second
        answered = self._queued_rows() / (self._call_s + waited)  # ... if the call ran now
        if coming < COMPANY_PACE * answered:
            self._end()
        else:
            self._timer = self._loop.call_later(COMPANY_PACE_SHARE * self._call_s, self._check)

    def _end(self) -> None:
        self._timer.cancel()
        if not self.done.done():
            self.done.set_result(None)


def _averaged(average: float, seconds: float) -> float:
    """A moving average of call times that starts at the first."""
    return seconds if average == _UNKNOWN else 0.8 * average + 0.2 * seconds


def _splittable(predictions: Any, rows: int) -> bool:
    """Whether the predictions are one per row, in order (an array with ``rows`` first)."""
    if not isinstance(predictions, np.ndarray) or predictions.ndim == 0:
        return False
    return len(predictions) == rows
