"""``servegate features ...``: feature tables (define, upsert rows, read, list, delete)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, with_client

features_app = typer.Typer(help="Feature tables for lookups at request time.")
app.add_typer(features_app, name="features")
console = Console()


def _parse_columns(columns: list[str]) -> dict[str, str]:
    schema = {}
    for item in columns:
        name, sep, kind = item.partition(":")
        if not sep:
            raise typer.BadParameter(f"{item!r}: write NAME:TYPE, e.g. spend_30d:double")
        schema[name] = kind
    return schema


@features_app.command()
def create(
    name: str,
    key: Annotated[list[str], typer.Option("--key", help="A primary key column (repeatable).")],
    column: Annotated[
        list[str], typer.Option("--column", help="NAME:TYPE, keys included (repeatable).")
    ],
    timestamp_key: Annotated[str | None, typer.Option(help="The event-time column.")] = None,
    ttl_seconds: Annotated[float | None, typer.Option(help="Values older read as missing.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Define feature table NAME (types: boolean, integer, long, float, double, string,
    timestamp)."""
    schema = _parse_columns(column)
    with_client(
        url,
        token,
        home,
        lambda client: client.create_feature_table(
            name,
            key,
            schema,
            timestamp_key=timestamp_key,
            ttl_seconds=ttl_seconds,
            description=description,
        ),
    )
    console.print(f"Created feature table '{name}'.")


@features_app.command()
def upsert(
    name: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv or .parquet")],
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Upsert the rows of FILE into NAME."""
    done = with_client(url, token, home, lambda client: client.upsert_features(name, file))
    console.print(f"Upserted {done['rows']} rows ({done['stored']} keys stored) into '{name}'.")


@features_app.command()
def read(
    name: str,
    keys: Annotated[str, typer.Argument(help='JSON: a list of keys, e.g. [{"customer_id": 1}]')],
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Print each key's features (null where missing or expired) as JSON."""
    try:
        parsed = json.loads(keys)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"KEYS is not JSON: {error}") from error
    rows = with_client(url, token, home, lambda client: client.read_features(name, parsed))
    typer.echo(json.dumps(rows, indent=2))


@features_app.command("list")
def list_tables(url: UrlOption = None, token: TokenOption = None, home: HomeOption = None) -> None:
    """Every feature table."""
    tables = with_client(url, token, home, lambda client: client.feature_tables())
    view = Table("name", "keys", "features", "timestamp", "ttl s")
    for table in tables:
        view.add_row(
            table["name"],
            ", ".join(table["primary_keys"]),
            ", ".join(table["features"]),
            table.get("timestamp_key", ""),
            str(table.get("ttl_seconds", "")),
        )
    console.print(view)


@features_app.command()
def delete(
    name: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Delete feature table NAME and its values."""
    with_client(url, token, home, lambda client: client.delete_feature_table(name))
    console.print(f"Deleted feature table '{name}'.")
