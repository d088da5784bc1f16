"""The ``servegate`` command line."""

from __future__ import annotations

from servegate.cli import access, models, quickstart, replica, serve  # noqa: F401 (commands)
from servegate.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
