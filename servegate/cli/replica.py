"""``servegate replica``: one model version as a complete MLflow scoring server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from servegate.cli.app import app
from servegate.environments import EnvManager
from servegate.observability.log_format import LogFormat
from servegate.replica.batching import DEFAULT_MAX_ROWS, Batching
from servegate.settings import MAX_REQUEST_BYTES, MAX_ROWS_PER_REQUEST, Settings


@app.command()
def replica(
    model_uri: Annotated[
        str,
        typer.Argument(help="models:/NAME/VERSION, runs:/..., a path, or feature-spec:NAME."),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    uds: Annotated[Path | None, typer.Option(help="Listen on this Unix socket instead.")] = None,
    build_log: Annotated[
        Path | None, typer.Option(help="Append download and load steps here.")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Keep registered versions' artifacts here for reuse.")
    ] = None,
    parent_pid: Annotated[
        int | None, typer.Option(help="Exit when this process (the gateway) exits.")
    ] = None,
    max_request_bytes: Annotated[int, typer.Option(help="Larger bodies get 413.")] = (
        MAX_REQUEST_BYTES
    ),
    max_rows: Annotated[int, typer.Option(min=1, help="More rows in one request get 400.")] = (
        MAX_ROWS_PER_REQUEST
    ),
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, help="Predictions run at once while they wait (one while they compute)."
        ),
    ] = 4,
    fast_path: Annotated[
        bool, typer.Option(help="Skip pandas (and pyfunc) where that provably answers the same.")
    ] = True,
    max_batch_rows: Annotated[
        int, typer.Option(min=1, help="Rows of concurrent requests merged into one predict.")
    ] = DEFAULT_MAX_ROWS,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a batch may wait for more requests.")
    ] = 0.0,
    online_store: Annotated[
        str | None,
        typer.Option(
            envvar="SERVEGATE_REPLICA_ONLINE_STORE",
            help="Online feature store (sqlite:///PATH or redis://...), if the model "
            "looks features up.",
        ),
    ] = None,
    online_store_prefix: Annotated[str, typer.Option(help="Start of Redis keys.")] = "servegate:",
    feature_tables: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSON file of feature table definitions (as the API lists them).",
        ),
    ] = None,
    metrics_endpoint: Annotated[
        str, typer.Option(help="The endpoint label of this replica's metrics.")
    ] = "",
    metrics_served: Annotated[
        str, typer.Option(help="The served_model label of this replica's metrics.")
    ] = "",
    feature_spec: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="For MODEL_URI feature-spec:NAME: the spec (FeatureSpec.to_dict JSON).",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            help="The file stdout and stderr are open on: reopen it when it is rotated away."
        ),
    ] = None,
    log_format: Annotated[LogFormat, typer.Option(help="Log lines as text or JSON.")] = (
        LogFormat.TEXT
    ),
    access_log: Annotated[bool, typer.Option(help="A log line per request.")] = False,
    env_manager: Annotated[
        EnvManager,
        typer.Option(
            help="local: this Python's libraries; virtualenv: a virtualenv built with uv from "
            "the model's requirements.txt."
        ),
    ] = EnvManager.LOCAL,
    env_dir: Annotated[
        Path | None,
        typer.Option(help="Where virtualenvs are cached (default: $SERVEGATE_HOME/envs)."),
    ] = None,
) -> None:
    """Serve one model like `mlflow models serve`: /invocations, /ping, /health, /version.

    The registry comes from MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN)."""
    from servegate.replica.served import FeatureSource, ReplicaOptions
    from servegate.replica.server import run_replica

    options = ReplicaOptions(
        max_request_bytes=max_request_bytes,
        max_rows=max_rows,
        concurrency=concurrency,
        fast_path=fast_path,
        batching=Batching(max_batch_rows, batch_wait_ms / 1000),
        features=FeatureSource(
            online_store,
            online_store_prefix,
            feature_tables.read_bytes() if feature_tables else None,
            feature_spec.read_bytes() if feature_spec else None,
        ),
        metrics_labels=(metrics_endpoint, metrics_served),
        access_log=access_log,
    )
    code = run_replica(
        model_uri,
        options,
        host=host,
        port=port,
        uds=uds,
        build_log_path=build_log,
        cache_dir=cache_dir,
        parent_pid=parent_pid,
        log_file=log_file,
        log_format=log_format,
        env_manager=env_manager,
        envs_dir=env_dir or Settings().envs_dir,
    )
    raise typer.Exit(code)
