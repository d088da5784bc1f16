"""The leader lease: one holder at a time, free again the moment its holder lets go."""

from __future__ import annotations

from servegate.reconciler.leadership import lease_for
from servegate.store.database import Database


def test_one_leader_at_a_time_and_takeover(database: Database) -> None:
    first, second = lease_for(database.url), lease_for(database.url)
    assert first.try_acquire() and first.held()
    assert first.try_acquire(), "taking it again is a no-op"
    assert not second.try_acquire() and not second.held()
    first.release()  # as when its process dies: the lock goes with it
    assert not first.held()
    assert second.try_acquire() and second.held()
    assert not first.try_acquire()
    second.release()
