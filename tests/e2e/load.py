"""A bounded, steady stream of queries against one endpoint on 127.0.0.1, counting outcomes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests


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
                try:
                    response = session.post(self.url, json=self.body, timeout=30)
                    outcome = str(response.status_code)
                    served = response.headers.get("served-model-name", "")
                    detail = response.text[:200]
                except requests.RequestException as error:
                    outcome, served, detail = "connection-error", "", repr(error)
                with self._lock:
                    self.outcomes[outcome] += 1
                    self.served[served] += 1
                    self.first_seen.setdefault(served, time.monotonic())
                    if outcome != "200":
                        self.failures.append(f"{outcome}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())
