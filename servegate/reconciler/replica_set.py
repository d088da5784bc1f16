"""The replicas of one served entity (one ``ReplicaKey``), and how many it should run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from servegate.backends.base import ReplicaHandle, ReplicaSpec, ScalingBounds
from servegate.reconciler.autoscaling import ScalingState


@dataclass(frozen=True)
class LoadReading:
    at: float
    requests: int
    busy_seconds: float


@dataclass(eq=False)
class ReplicaSet:
    spec: ReplicaSpec
    bounds: ScalingBounds
    scaling: ScalingState
    handles: list[ReplicaHandle] = field(default_factory=list)
    readings: dict[ReplicaHandle, LoadReading] = field(default_factory=dict)
    woken: bool = False  # its replicas start because a request came while it was at zero
    backend_scales: bool = False  # one handle, behind which the backend runs the replicas

    @classmethod
    def new(cls, spec: ReplicaSpec, now: float, *, backend_scales: bool = False) -> ReplicaSet:
        initial = 1 if backend_scales else spec.bounds.floor
        return cls(spec, spec.bounds, ScalingState(initial, now), backend_scales=backend_scales)

    @property
    def ready(self) -> list[ReplicaHandle]:
        return [handle for handle in self.handles if handle.ready]

    @property
    def primary(self) -> ReplicaHandle | None:
        """The replica whose state speaks for the set: a ready one if any."""
        return next(iter(self.ready), self.handles[0] if self.handles else None)

    @property
    def replicas(self) -> int:
        """The replicas asked for; where the backend scales, the ones it runs."""
        if self.backend_scales:
            return sum(handle.replicas for handle in self.handles)
        return self.scaling.replicas

    @property
    def ready_replicas(self) -> int:
        return sum(handle.replicas for handle in self.ready)

    @property
    def asleep(self) -> bool:
        if self.backend_scales:
            return bool(self.ready) and self.replicas == 0
        return self.scaling.replicas == 0

    def surplus(self) -> list[ReplicaHandle]:
        """Replicas beyond the wanted count: ones not serving first, then the newest."""
        extra = len(self.handles) - self.scaling.replicas
        if extra <= 0:
            return []
        order = sorted(range(len(self.handles)), key=lambda i: (self.handles[i].ready, -i))
        return [self.handles[i] for i in order[:extra]]

    def describe(self) -> dict[str, Any]:
        """Its scaling as the API shows it on the served entity."""
        return {
            "replicas": self.replicas,
            "ready_replicas": self.ready_replicas,
            "min_replicas": self.bounds.min_replicas,
            "max_replicas": self.bounds.max_replicas,
            "scaled_to_zero": self.asleep,
        }

    async def observe(self, now: float) -> tuple[float, bool]:
        """The mean number of requests in flight since the last observation, summed over
        the replicas, and whether any request arrived meanwhile."""
        serving = self.ready
        answers = await asyncio.gather(*(handle.client.load() for handle in serving))
        load, had_requests = 0.0, False
        readings: dict[ReplicaHandle, LoadReading] = {}
        for handle, answer in zip(serving, answers, strict=True):
            if answer is None:
                continue
            reading = LoadReading(now, int(answer["requests"]), float(answer["busy_seconds"]))
            previous = self.readings.get(handle)
            if previous is not None and reading.at > previous.at:
                load += (reading.busy_seconds - previous.busy_seconds) / (reading.at - previous.at)
                had_requests |= reading.requests > previous.requests
            else:
                load += int(answer["inflight"])
                had_requests |= int(answer["inflight"]) > 0
            readings[handle] = reading
        self.readings = readings
        return load, had_requests
