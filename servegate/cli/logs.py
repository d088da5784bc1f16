"""``servegate logs ENDPOINT SERVED``: what a served model's replicas print."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, with_client
from servegate.client import ServegateClient


@app.command()
def logs(
    endpoint: str,
    served: Annotated[str, typer.Argument(help="The served model (entity) name.")],
    build: Annotated[
        bool, typer.Option("--build", help="The build log: download, load, start, with timings.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Print the newest lines of a served model's log (stdout and stderr of its replicas)."""

    def show(client: ServegateClient) -> None:
        if not follow:
            sys.stdout.write(client.served_model_logs(endpoint, served, build=build))
            return
        try:
            for chunk in client.follow_served_model_logs(endpoint, served, build=build):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass

    with_client(url, token, home, show)
