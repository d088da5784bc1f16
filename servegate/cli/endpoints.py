"""``servegate endpoints create|update|get|list|delete|wait|query``: serving endpoints.

Exit codes: 0 done; 1 the API refused or the update failed; 2 a usage error (bad flags, an
unreadable file); 3 still updating when ``--timeout`` ran out.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption, console, with_client
from servegate.cli.output import JsonFlag, Output, OutputOption, emit, table_of
from servegate.client import ServegateClient

endpoints_app = typer.Typer(help="Serving endpoints: create, update, wait for, query, delete.")
app.add_typer(endpoints_app, name="endpoints")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
_POLL_S = 0.5

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="YAML or JSON: the API's create body ({name, config, tags...}) or just its config.",
    ),
]
ModelOption = Annotated[
    str | None, typer.Option(help="Registered model to serve (instead of --file).")
]
VersionOption = Annotated[
    str | None, typer.Option(help="Its version, stage (Production) or alias (@champion).")
]
ServedNameOption = Annotated[
    str | None, typer.Option(help="The served model's name [default: MODEL-VERSION].")
]
SizeOption = Annotated[str, typer.Option(help="Small, Medium or Large.")]
ScaleToZeroOption = Annotated[
    bool, typer.Option(help="Stop the replicas when idle; wake on the next request.")
]
EnvOption = Annotated[
    list[str] | None, typer.Option("--env", help="KEY=VALUE for the replicas (repeatable).")
]
WaitOption = Annotated[bool, typer.Option(help="Wait until the update is over (with a spinner).")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to wait at most.")]


def _usage(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_USAGE)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise _usage(f"cannot read {path}: {error}") from error
    if not isinstance(document, dict):
        raise _usage(f"{path} must hold an object (the create body or its config).")
    return document


def _entity_from_flags(
    model: str | None,
    version: str | None,
    served_name: str | None,
    workload_size: str,
    scale_to_zero: bool,
    env: list[str] | None,
) -> dict[str, Any]:
    if model is None or version is None:
        raise _usage("give --file, or --model and --version.")
    entity: dict[str, Any] = {
        "entity_name": model,
        "entity_version": version,
        "workload_size": workload_size,
        "scale_to_zero_enabled": scale_to_zero,
    }
    if served_name:
        entity["name"] = served_name
    variables = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _usage(f"--env {item!r}: write KEY=VALUE.")
        variables[key] = value
    if variables:
        entity["environment_vars"] = variables
    return entity


def _body(
    name: str,
    file: Path | None,
    flags: tuple[str | None, str | None, str | None, str, bool, list[str] | None],
) -> dict[str, Any]:
    """The create body, from the file (name checked) or from the flags."""
    if file is None:
        return {"name": name, "config": {"served_entities": [_entity_from_flags(*flags)]}}
    if flags[0] is not None or flags[1] is not None:
        raise _usage("give --file or --model/--version, not both.")
    document = _read_file(file)
    if "config" not in document:
        document = {"config": document}
    if document.setdefault("name", name) != name:
        raise _usage(f"{file} names endpoint {document['name']!r}, not {name!r}.")
    return document


def wait_until_settled(client: ServegateClient, name: str, timeout: float) -> dict[str, Any]:
    """Poll NAME until its update is over, showing its progress; exits non-zero if it fails
    or outlasts ``timeout``."""
    deadline = time.monotonic() + timeout
    with console.status(f"Waiting for {name}...") as status:
        while True:
            endpoint = client.endpoint(name)
            state = endpoint["state"]
            if state["config_update"] == "NOT_UPDATING" and state["ready"] == "READY":
                return endpoint
            if state["config_update"] == "UPDATE_FAILED":
                console.print(_entities_table(endpoint, "pending_config"))
                console.print(f"[bold red]error:[/] the update of {name} failed.")
                raise typer.Exit(EXIT_FAILED)
            if time.monotonic() > deadline:
                console.print(f"[bold red]error:[/] {name} is still updating after {timeout:g}s.")
                raise typer.Exit(EXIT_TIMED_OUT)
            status.update(f"{name}: {_progress(endpoint)}")
            time.sleep(_POLL_S)


def _progress(endpoint: dict[str, Any]) -> str:
    config = endpoint.get("pending_config") or endpoint.get("config") or {}
    entities = config.get("served_entities", [])
    ready = sum(e.get("state", {}).get("deployment") == "DEPLOYMENT_READY" for e in entities)
    messages = "; ".join(
        f"{e['name']}: {e['state'].get('deployment_state_message', '')}"
        for e in entities
        if e.get("state", {}).get("deployment") != "DEPLOYMENT_READY"
    )
    progress = f"{ready} of {len(entities)} served models ready"
    return f"{progress} — {messages}" if messages else progress


def _entities_table(endpoint: dict[str, Any], which: str = "config") -> Table:
    config = endpoint.get(which) or endpoint.get("config") or {}
    shares = {
        route["served_model_name"]: route["traffic_percentage"]
        for route in (config.get("traffic_config") or {}).get("routes", [])
    }
    return table_of(
        ("served model", "model", "version", "traffic %", "size", "state", "message"),
        [
            (
                e["name"],
                e.get("entity_name"),
                e.get("entity_version"),
                shares.get(e["name"]),
                e.get("workload_size"),
                e.get("state", {}).get("deployment"),
                e.get("state", {}).get("deployment_state_message"),
            )
            for e in config.get("served_entities", [])
        ],
    )


def _show(endpoint: dict[str, Any], output: Output, as_json: bool) -> None:
    def table(found: dict[str, Any]) -> Table:
        state = found["state"]
        console.print(
            f"[bold]{found['name']}[/]: {state['ready']}, {state['config_update']} "
            f"(config version {(found.get('config') or {}).get('config_version', '-')})"
        )
        if found.get("pending_config"):
            console.print(_entities_table(found, "pending_config"))
            console.print("[dim]pending ↑, serving ↓[/]")
        return _entities_table(found)

    emit(endpoint, output, as_json, table)


@endpoints_app.command(
    "create",
    help="Create endpoint NAME from --file or from --model/--version, and wait until it is ready.",
)
@endpoints_app.command(
    "update",
    help="Give endpoint NAME a new config (it serves the old one until the new one is ready).",
)
def create_or_update(
    context: typer.Context,
    name: str,
    file: FileOption = None,
    model: ModelOption = None,
    version: VersionOption = None,
    served_name: ServedNameOption = None,
    workload_size: SizeOption = "Small",
    scale_to_zero: ScaleToZeroOption = False,
    env: EnvOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 600,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    body = _body(name, file, (model, version, served_name, workload_size, scale_to_zero, env))
    updating = context.info_name == "update"

    def act(client: ServegateClient) -> dict[str, Any]:
        if updating:
            answered = client.update_endpoint_config(name, body["config"])
        else:
            answered = client.create_endpoint(body)
        return wait_until_settled(client, name, timeout) if wait else answered

    _show(with_client(url, token, home, act), output, as_json)


@endpoints_app.command("get")
def get(
    name: str,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Endpoint NAME: its state and served models (and a pending config, if any)."""
    _show(with_client(url, token, home, lambda c: c.endpoint(name)), output, as_json)


@endpoints_app.command("list")
def list_endpoints(
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """The endpoints you may see."""
    found = with_client(url, token, home, lambda c: c.endpoints())

    def table(endpoints: list[dict[str, Any]]) -> Table:
        return table_of(
            ("name", "ready", "update", "served models", "creator"),
            [
                (
                    e["name"],
                    e["state"]["ready"],
                    e["state"]["config_update"],
                    ", ".join(
                        s["name"] for s in (e.get("config") or {}).get("served_entities", [])
                    ),
                    e.get("creator"),
                )
                for e in endpoints
            ],
        )

    emit(found, output, as_json, table)


@endpoints_app.command("delete")
def delete(
    name: str, url: UrlOption = None, token: TokenOption = None, home: HomeOption = None
) -> None:
    """Delete endpoint NAME (its replicas finish what they are answering, then stop)."""
    with_client(url, token, home, lambda c: c.delete_endpoint(name))
    console.print(f"Deleted endpoint {name}.")


@endpoints_app.command("wait")
def wait_for(
    name: str,
    timeout: TimeoutOption = 600,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Wait until NAME is ready and not updating (exit 1 if its update fails, 3 on timeout)."""
    with_client(url, token, home, lambda c: wait_until_settled(c, name, timeout))
    console.print(f"{name} is ready.")


@endpoints_app.command("query")
def query(
    name: str,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The request body (JSON) itself.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read the body from this file (.json, .csv, .parquet; - stdin)."
        ),
    ] = None,
    served_model: Annotated[
        str | None, typer.Option(help="Ask this served model, whatever the traffic split.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Send NAME a scoring request (any MLflow format); print its answer as JSON."""
    if (data is None) == (file is None):
        raise _usage("give the body with --data or --file (one of them).")
    content_type = "application/json"
    if data is not None:
        body = data.encode()
    elif str(file) == "-":
        body = sys.stdin.buffer.read()
    else:
        assert file is not None
        try:
            body = file.read_bytes()
        except OSError as error:
            raise _usage(f"cannot read {file}: {error}") from error
        content_type = {
            ".csv": "text/csv",
            ".parquet": "application/vnd.apache.parquet",
        }.get(file.suffix.lower(), content_type)
    answer, served = with_client(
        url, token, home, lambda c: c.query(name, body, content_type, served_model)
    )
    typer.echo(json.dumps(answer, indent=2))
    sys.stderr.write(f"served-model-name: {served}\n")
