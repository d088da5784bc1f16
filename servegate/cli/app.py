"""The root Typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="servegate",
    help="Real-time serving for MLflow models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
