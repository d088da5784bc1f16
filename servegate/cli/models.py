"""``servegate models enable|disable|status NAME``: per-model serving."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, with_client
from servegate.cli.output import JsonFlag, Output, OutputOption
from servegate.client import ServegateClient

models_app = typer.Typer(help="Serve every version, stage and alias of a registered model.")
app.add_typer(models_app, name="models")
console = Console()


@models_app.command()
def enable(
    name: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Serve every non-archived version of NAME, and the ones registered later."""
    with_client(url, token, home, lambda client: client.enable_model(name))
    urls = f"/model/{name}/{{VERSION|Staging|Production|@ALIAS}}/invocations"
    console.print(f"Serving enabled for '{name}': {urls}")


@models_app.command()
def disable(
    name: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Stop serving NAME."""
    with_client(url, token, home, lambda client: client.disable_model(name))
    console.print(f"Serving disabled for '{name}'.")


@models_app.command()
def status(
    name: str,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
) -> None:
    """State of NAME's serving, each version, and which version each stage and alias serves."""

    def collect(client: ServegateClient) -> dict[str, Any]:
        return {
            "endpoint_status": client.model_status(name),
            "endpoint_versions": client.model_versions(name),
            "aliases": client.model_aliases(name),
        }

    found = with_client(url, token, home, collect)
    if as_json or output is Output.JSON:
        typer.echo(json.dumps(found, indent=2))
        return
    endpoint = found["endpoint_status"]
    console.print(f"[bold]{name}[/]: {endpoint['state']} — {endpoint.get('state_message', '')}")
    table = Table("version", "state", "message", "serves")
    serves: dict[str, list[str]] = {}
    for alias in found["aliases"]:
        serves.setdefault(alias["endpoint_version_name"], []).append(alias["alias"])
    for version in found["endpoint_versions"]:
        number = version["endpoint_version_name"]
        table.add_row(
            number,
            version["state"],
            version.get("state_message", ""),
            ", ".join(serves.get(number, [])),
        )
    console.print(table)
