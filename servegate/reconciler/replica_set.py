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

    @classmethod
    def new(cls, spec: ReplicaSpec, now: float, *, one_handle: bool = False) -> ReplicaSet:
        """``one_handle``: the backend runs the entity's replicas itself, behind one handle."""
        return cls(spec, spec.bounds, ScalingState(1 if one_handle else spec.bounds.floor, now))

    @property
    def ready(self) -> list[ReplicaHandle]:
        return [handle for handle in self.handles if handle.ready]

    @property
    def primary(self) -> ReplicaHandle | None:
        """The replica whose state speaks for the set: a ready one if any."""
        return next(iter(self.ready), self.handles[0] if self.handles else None)

    @property
    def asleep(self) -> bool:
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
            "replicas": self.scaling.replicas,
            "ready_replicas": len(self.ready),
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
