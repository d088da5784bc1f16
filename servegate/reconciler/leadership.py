"""Who leads: exactly one gateway process runs the reconciler for a store.

On SQLite (one machine) the lease is an exclusive ``flock`` on a file beside the database;
on PostgreSQL it is a session advisory lock held by a dedicated connection. Either way the
operating system or the database server releases it the moment its holder dies, so another
process takes over at its next attempt.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock key every servegate gateway of a database contends for.
ADVISORY_LOCK_KEY = 0x5E47_6A7E


class Lease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if it is free (or already ours); never waits."""

    def held(self) -> bool:
        """Whether the lease is still ours (False once lost)."""

    def release(self) -> None: ...


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class PostgresLease:
    def __init__(self, store_url: str) -> None:
        url = make_url(store_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self._connection: psycopg.Connection | None = None
        self._holding = False

    def try_acquire(self) -> bool:
        import psycopg  # the postgres extra; only needed with a PostgreSQL store

        if self._holding:
            return self.held()
        try:
            if self._connection is None:
                self._connection = psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=5,
                    # a leader cut off from the database notices within seconds
                    keepalives=1,
                    keepalives_idle=2,
                    keepalives_interval=1,
                    keepalives_count=3,
                )
            row = self._connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)
            ).fetchone()
        except psycopg.Error:
            logger.warning("could not reach PostgreSQL for the leader lease", exc_info=True)
            self.release()
            return False
        self._holding = bool(row and row[0])
        return self._holding

    def held(self) -> bool:
        import psycopg

        if not self._holding or self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        """Step down now: unlock, then end the session.

        Ending the session alone frees the lock only once the server has noticed, a moment
        later, so a peer trying straight away would still find it taken.
        """
        import psycopg

        if self._connection is not None:
            # if the session is already gone, so is the lock
            if self._holding:
                with contextlib.suppress(psycopg.Error):
                    self._connection.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            self._connection.close()
            self._connection = None
        self._holding = False


def lease_for(store_url: str) -> Lease:
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLease(store_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return FileLease(Path(url.database + ".leader"))
    raise ValueError(f"No leader lease for store {url.render_as_string()}.")
