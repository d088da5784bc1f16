"""How commands print what they found: a table for people (default), JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer
from rich.table import Table

from servegate.cli.connection import console


class Output(str, Enum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table, or json for scripts.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as --output json.")]


def emit(found: Any, output: Output, as_json: bool, table: Callable[[Any], Table]) -> None:
    """Print ``found`` as JSON, or as the table ``table`` makes of it."""
    if as_json or output is Output.JSON:
        typer.echo(json.dumps(found, indent=2))
    else:
        console.print(table(found))


def table_of(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Table:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table
