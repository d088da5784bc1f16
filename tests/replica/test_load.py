"""The replica's load meter: requests in flight integrated over time."""

from __future__ import annotations

from servegate.replica.load import LoadMeter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_busy_seconds_integrate_requests_in_flight() -> None:
    clock = Clock()
    meter = LoadMeter(clock)
    meter.begin()
    meter.begin()
    clock.now += 0.2
    meter.end()
    clock.now += 0.1
    assert meter.reading() == {"inflight": 1, "requests": 2, "busy_seconds": 0.5}
    meter.end()
    clock.now += 5
    reading = meter.reading()
    assert reading["busy_seconds"] == 0.5, "idle time adds nothing"
    assert reading["inflight"] == 0
