"""``servegate events ENDPOINT``: what happened to an endpoint."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, with_client

console = Console()


@app.command()
def events(
    endpoint: str,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many of the newest.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Config updates, failed updates, replica exits and scaling of ENDPOINT, oldest first."""
    found = with_client(url, token, home, lambda c: c.endpoint_events(endpoint, limit))
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    view = Table("time (UTC)", "event", "served model", "message")
    for event in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event["timestamp"] / 1000))
        view.add_row(
            when, event["event_type"], event.get("served_entity_name", ""), event["message"]
        )
    console.print(view)
