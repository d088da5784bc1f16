"""Dynamic batching: the rows of concurrent requests go to the model in one predict call.

A request never waits for company: when nothing is predicting, its rows go at once. While a
predict runs, the requests that arrive queue up, and the next call takes all of them (up to
``max_rows`` rows), then splits the predictions back by each request's row count. A forest
predicts 32 rows in the time of one, so under load this multiplies throughput; idle, it
costs nothing. ``max_wait_s`` (default 0) optionally holds a batch open to gather more.

If a merged call fails, each request of it is predicted alone, so one bad request fails
only itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np

DEFAULT_MAX_ROWS = 256


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
    ) -> None:
        self.predict = predict
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self._queue: deque[_Waiting] = deque()
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # predict calls made (batch-size metrics will read it)

    async def submit(self, rows: np.ndarray) -> Any:
        """The model's predictions for ``rows``, predicted alongside whatever else is waiting."""
        waiting = _Waiting(rows)
        self._queue.append(waiting)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        while self._queue:
            if self.max_wait_s and sum(len(w.rows) for w in self._queue) < self.max_rows:
                await asyncio.sleep(self.max_wait_s)
            batch = self._take()
            try:
                await self._predict_batch(batch)
            except Exception as error:  # noqa: BLE001 - each request gets its own outcome
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)

    def _take(self) -> list[_Waiting]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self.max_rows:
            waiting = self._queue.popleft()
            batch.append(waiting)
            rows += len(waiting.rows)
        return batch

    async def _predict_batch(self, batch: list[_Waiting]) -> None:
        self.batches += 1
        if len(batch) == 1:
            await self._predict_alone(batch[0])
            return
        rows = sum(len(waiting.rows) for waiting in batch)
        try:
            merged = np.concatenate([waiting.rows for waiting in batch])
            predictions = await anyio.to_thread.run_sync(self.predict, merged)
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

    async def _predict_alone(self, waiting: _Waiting) -> None:
        try:
            result = await anyio.to_thread.run_sync(self.predict, waiting.rows)
        except Exception as error:  # noqa: BLE001 - the request's own failure, returned to it
            if not waiting.answer.done():
                waiting.answer.set_exception(error)
            return
        if not waiting.answer.done():
            waiting.answer.set_result(result)


def _splittable(predictions: Any, rows: int) -> bool:
    """Whether the predictions are one per row, in order (an array with ``rows`` first)."""
    if not isinstance(predictions, np.ndarray) or predictions.ndim == 0:
        return False
    return len(predictions) == rows
