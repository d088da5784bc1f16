"""How busy a replica is, for whoever scales it: requests in flight, integrated over time.

The reconciler reads ``GET /load`` now and then; the difference between two readings of
``busy_seconds`` divided by the time between them is the mean number of requests in flight
in that interval, exact however short the requests and however rare the readings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class LoadMeter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.inflight = 0
        self.requests = 0
        self._clock = clock
        self._busy_seconds = 0.0
        self._since = clock()

    def _advance(self) -> None:
        now = self._clock()
        self._busy_seconds += self.inflight * (now - self._since)
        self._since = now

    def begin(self) -> None:
        self._advance()
        self.inflight += 1
        self.requests += 1

    def end(self) -> None:
        self._advance()
        self.inflight -= 1

    def reading(self) -> dict[str, Any]:
        self._advance()
        return {
            "inflight": self.inflight,
            "requests": self.requests,
            "busy_seconds": self._busy_seconds,
        }
