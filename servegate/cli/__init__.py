"""The ``servegate`` command line."""

from __future__ import annotations

from servegate.cli.app import app
from servegate.cli import quickstart, replica, serve  # noqa: F401  (register commands)


def main() -> None:
    app()


__all__ = ["app", "main"]
