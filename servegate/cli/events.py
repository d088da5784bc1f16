"""``servegate events ENDPOINT``: what happened to an endpoint."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, with_client
from servegate.cli.output import JsonFlag, Output, OutputOption, emit, table_of


@app.command()
def events(
    endpoint: str,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many of the newest.")] = 100,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Config updates, failed updates, replica exits and scaling of ENDPOINT, oldest first."""
    found = with_client(url, token, home, lambda c: c.endpoint_events(endpoint, limit))

    def table(found: list[dict[str, Any]]) -> Table:
        return table_of(
            ("time (UTC)", "event", "served model", "message"),
            [
                (
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event["timestamp"] / 1000)),
                    event["event_type"],
                    event.get("served_entity_name", ""),
                    event["message"],
                )
                for event in found
            ],
        )

    emit(found, output, as_json, table)
