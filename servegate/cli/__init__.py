"""The ``servegate`` command line."""

from __future__ import annotations

from servegate.cli import models, quickstart, replica, serve  # noqa: F401  (register commands)
from servegate.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
