"""How CLI commands find the gateway and its token."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from servegate.client import ServegateClient, ServegateClientError
from servegate.settings import Settings

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="The gateway [default: $SERVEGATE_URL or http://127.0.0.1:8080]."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="API token [default: $SERVEGATE_TOKEN, else the admin token of --home].",
        show_default=False,
    ),
]
HomeOption = Annotated[Path | None, typer.Option(help="Home holding the admin token.")]


def connect(url: str | None, token: str | None, home: Path | None) -> ServegateClient:
    settings = Settings(**({"home": home} if home else {}))
    url = url or os.environ.get("SERVEGATE_URL") or settings.local_url
    token = token or os.environ.get("SERVEGATE_TOKEN") or settings.stored_admin_token()
    if not token:
        typer.echo("error: no token: pass --token or set SERVEGATE_TOKEN", err=True)
        raise typer.Exit(2)
    return ServegateClient(url, token)


Result = TypeVar("Result")
console = Console()


def with_client(
    url: str | None,
    token: str | None,
    home: Path | None,
    action: Callable[[ServegateClient], Result],
) -> Result:
    """Run ``action`` against the gateway; an API error prints and exits with code 1."""
    client = connect(url, token, home)
    try:
        return action(client)
    except ServegateClientError as error:
        console.print(f"[bold red]error:[/] {error.message} ({error.error_code})")
        raise typer.Exit(1) from error
    finally:
        client.close()
