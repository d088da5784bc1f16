"""The leader lease: one holder at a time, free again once its holder steps down or dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from servegate.reconciler.leadership import lease_for
from servegate.store.database import Database

HOLD_AND_WAIT = """
import sys, time
from servegate.reconciler.leadership import lease_for
lease = lease_for(sys.argv[1])
assert lease.try_acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_one_leader_at_a_time_and_takeover(database: Database) -> None:
    first, second = lease_for(database.url), lease_for(database.url)
    assert first.try_acquire() and first.held()
    assert first.try_acquire(), "taking it again is a no-op"
    assert not second.try_acquire() and not second.held()
    first.release()  # stepping down frees it at once
    assert not first.held()
    assert second.try_acquire() and second.held()
    assert not first.try_acquire()
    second.release()


def test_a_dead_leaders_lease_is_taken_over(database: Database) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, database.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        successor = lease_for(database.url)
        assert not successor.try_acquire()
        holder.send_signal(signal.SIGKILL)  # no chance to step down
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not successor.try_acquire():
            assert time.monotonic() < deadline, "the dead leader's lease was never freed"
            time.sleep(0.05)
        assert successor.held()
        successor.release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
