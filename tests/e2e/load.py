"""Bounded load on one endpoint on 127.0.0.1 (a steady stream or a burst), counting outcomes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests


@dataclass(frozen=True)
class Sent:
    """One request of a load: when it left and came back (monotonic), and how it went."""

    at: float
    answered_at: float
    outcome: str  # the status code, or "connection-error"
    served: str
    detail: str


@dataclass
class SteadyLoad:
    url: str
    headers: dict[str, str]
    body: dict
    threads: int = 4
    max_seconds: float = 240.0
    outcomes: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)  # served name → monotonic time
    timeline: list[Sent] = field(default_factory=list)  # every request, in order of answer
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> SteadyLoad:
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(deadline,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self, deadline: float) -> None:
        with requests.Session() as session:
            session.headers.update(self.headers)
            while not self._stop.is_set() and time.monotonic() < deadline:
                sent_at = time.monotonic()
                try:
                    response = session.post(self.url, json=self.body, timeout=30)
                    outcome = str(response.status_code)
                    served = response.headers.get("served-model-name", "")
                    detail = response.text[:200]
                except requests.RequestException as error:
                    outcome, served, detail = "connection-error", "", repr(error)
                with self._lock:
                    self.timeline.append(Sent(sent_at, time.monotonic(), outcome, served, detail))
                    self.outcomes[outcome] += 1
                    self.served[served] += 1
                    self.first_seen.setdefault(served, time.monotonic())
                    if outcome != "200":
                        self.failures.append(f"{outcome}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def burst(url: str, body: dict, tokens: list[str], total: int) -> tuple[Counter[int], float]:
    """``total`` requests from 8 threads, spread over the given callers' tokens; the status
    counts (each 200 or 429) and how long it took."""

    def one(index: int) -> int:
        headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
        response = requests.post(url, json=body, headers=headers, timeout=60)
        if response.status_code == 429:
            assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
            assert int(response.headers["Retry-After"]) >= 1
        else:
            assert response.status_code == 200, response.text
        return response.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(total))), time.monotonic() - started


def assert_within_limit(allowed: int, calls_per_minute: int, seconds: float) -> None:
    """A bucket holds ``calls_per_minute`` and refills at that rate: a burst lasting
    ``seconds`` gets that much, never less, and at most 2% of the limit more."""
    expected = calls_per_minute * (1 + seconds / 60)
    assert calls_per_minute <= allowed <= expected + 0.02 * calls_per_minute, (allowed, expected)
