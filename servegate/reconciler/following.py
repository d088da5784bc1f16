"""Which version a reference (a stage, an alias) is served by, as the registry moves it.

A reference moves to its new target only once a replica of the target is ready, so moving
``Production`` or ``@champion`` never sends a request to a version that cannot answer yet.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Following:
    current: str | None  # the version serving the reference now
    target: str | None  # the version the registry points the reference at

    @property
    def needed(self) -> list[str]:
        """Versions that must have a replica: the one serving and the one coming."""
        return [v for v in dict.fromkeys((self.current, self.target)) if v is not None]

    @property
    def moving(self) -> bool:
        return self.target is not None and self.target != self.current


class VersionFollower:
    def __init__(self) -> None:
        self._serving: dict[Hashable, str] = {}
        self._seen: set[Hashable] = set()

    def follow(self, key: Hashable, target: str | None, ready: Callable[[str], bool]) -> Following:
        self._seen.add(key)
        current = self._serving.get(key)
        if target is not None and (current is None or ready(target)):
            current = target
        if current is not None:
            self._serving[key] = current
        return Following(current, target)

    def forget_unseen(self) -> None:
        """Drop references no config or enabled model mentions any more."""
        for key in [key for key in self._serving if key not in self._seen]:
            del self._serving[key]
        self._seen.clear()
