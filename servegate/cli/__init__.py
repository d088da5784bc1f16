"""The ``servegate`` command line."""

from __future__ import annotations

from servegate.cli import (  # noqa: F401 (commands)
    access,
    build,
    deploy,
    endpoints,
    events,
    features,
    inference,
    logs,
    models,
    quickstart,
    replica,
    serve,
)
from servegate.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
