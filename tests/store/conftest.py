"""A store on real SQLite and on real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servegate.store.database import Database
from tests.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'store.db'}")
        db.migrate()
        yield db
        db.dispose()
        return
    with fresh_postgres_database() as url:
        db = Database(url)
        db.migrate()
        yield db
        db.dispose()
