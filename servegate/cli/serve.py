"""``servegate serve``: the platform on one host."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from starlette.types import ASGIApp

from servegate.cli.app import app
from servegate.environments import EnvManager
from servegate.gateway.connection_timeouts import timed_http_protocol
from servegate.observability.log_format import LogFormat, configure_logging
from servegate.observability.metrics_dir import prepare_metrics_dir
from servegate.settings import BackendKind, Settings


def make_settings(**overrides: Any) -> Settings:
    """Settings from ``SERVEGATE_*`` variables, with the flags the user gave on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8080].")] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="Where everything is kept [default: $SERVEGATE_HOME or ~/.servegate]."),
    ] = None,
    registry_uri: Annotated[
        str | None,
        typer.Option(help="Use this external MLflow server instead of the embedded registry."),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the store [default: SQLite in home].")
    ] = None,
    online_store: Annotated[
        str | None,
        typer.Option(help="Online feature store: redis://HOST:PORT/DB [default: SQLite in home]."),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="The certificate's key (PEM).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Gateway processes sharing the port [default: 1]."),
    ] = None,
    log_format: Annotated[
        LogFormat | None, typer.Option(help="Log lines as text or JSON [default: text].")
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option("--access-log/--no-access-log", help="A log line per request [default: off]."),
    ] = None,
    backend: Annotated[
        BackendKind | None,
        typer.Option(
            help="Where replicas run: local processes, Ray Serve, or Kubernetes pods behind the "
            "Services of `servegate deploy k8s` [default: local]."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="With --backend ray: the cluster, as auto, its GCS HOST:PORT or ray://HOST:PORT "
            "[default: auto]."
        ),
    ] = None,
    ray_http_port: Annotated[
        int | None,
        typer.Option(help="With --backend ray: the port of Ray Serve's proxy [default: 8000]."),
    ] = None,
    routes_file: Annotated[
        Path | None,
        typer.Option(
            help="With --backend kubernetes: the routes.json `servegate deploy k8s` wrote "
            "(its gateway ConfigMap, mounted)."
        ),
    ] = None,
    env_manager: Annotated[
        EnvManager | None,
        typer.Option(
            help="Where served entities that do not choose run their model: the server's "
            "Python (local) or a virtualenv of the model's requirements [default: local]."
        ),
    ] = None,
) -> None:
    """Start the gateway: serving API, data plane, embedded MLflow registry and replicas."""
    settings = make_settings(
        host=host,
        port=port,
        home=home,
        registry_uri=registry_uri,
        store_url=store,
        online_store=online_store,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        workers=workers,
        log_format=log_format,
        access_log=access_log,
        backend=backend,
        ray_address=ray_address,
        ray_http_port=ray_http_port,
        routes_file=routes_file,
        env_manager=env_manager,
    )
    run_gateway(settings)


def run_gateway(settings: Settings) -> None:
    configure_logging(settings.log_format)
    prepare_metrics_dir(settings.home / "metrics" / str(os.getpid()))
    if bool(settings.ssl_certfile) != bool(settings.ssl_keyfile):
        typer.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        raise typer.Exit(2)
    if settings.backend is BackendKind.KUBERNETES and settings.routes_file is None:
        typer.echo(
            "error: --backend kubernetes needs --routes-file: the routes.json of "
            "`servegate deploy k8s` (in the gateway's ConfigMap)",
            err=True,
        )
        raise typer.Exit(2)
    if settings.backend is BackendKind.RAY:
        # The gateway stops on its own signals (a graceful shutdown that deletes its Serve
        # applications); the crash handler Ray installs in a driver would abort it instead.
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        try:
            import ray.serve  # noqa: F401
        except ImportError as error:
            typer.echo(
                f"error: --backend ray needs Ray Serve ({error}): pip install 'servegate[ray]'",
                err=True,
            )
            raise typer.Exit(2) from error
    app: ASGIApp | str
    if settings.workers > 1:
        from servegate.gateway.workers import FACTORY, prepare_workers

        admin_token, created = prepare_workers(settings)
        app = FACTORY
    else:
        from servegate.gateway.app import build_gateway

        gateway = build_gateway(settings)
        app, admin_token, created = gateway.app, gateway.admin_token, gateway.admin_token_created
    url = settings.local_url
    if created:
        typer.echo(f"Created the admin token (shown once; kept in {settings.admin_token_path}):")
        typer.echo(f"  {admin_token}")
    else:
        typer.echo(f"Admin token: see {settings.admin_token_path} or $SERVEGATE_ADMIN_TOKEN.")
    registry = settings.registry_uri or f"{url} (embedded; MLFLOW_TRACKING_URI={url})"
    workers = f"; {settings.workers} workers" if settings.workers > 1 else ""
    typer.echo(f"servegate serving on {url}; home {settings.home}; registry {registry}{workers}")
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=timed_http_protocol(settings.request_head_timeout_s, settings.request_body_timeout_s),
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=30,
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )
