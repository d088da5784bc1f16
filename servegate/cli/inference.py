"""``servegate inference ENDPOINT``: the newest requests in an endpoint's inference table."""

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
_SHOWN_CHARS = 60


def _short(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


@app.command()
def inference(
    endpoint: str,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many of the newest.")] = 20,
    served_model: Annotated[
        str | None, typer.Option(help="Only the requests this served model answered.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole records as JSON.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Requests ENDPOINT answered, newest first: payload, response, status, latency, caller."""
    found = with_client(
        url, token, home, lambda c: c.inference_records(endpoint, limit, served_model=served_model)
    )
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    view = Table(
        "time (UTC)",
        "request id",
        "served model",
        "status",
        "ms",
        "requester",
        "request",
        "response",
    )
    for record in found:
        stamp = record["timestamp_ms"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp / 1000))
        view.add_row(
            f"{when}.{stamp % 1000:03d}",
            record["request_id"],
            record["served_model_name"] or "",
            str(record["status_code"]),
            f"{record['execution_time_ms']:.1f}",
            record["requester"],
            _short(record["request"]),
            _short(record["response"]),
        )
    console.print(view)
