"""``servegate build (MODEL_URI|ENDPOINT) -o DIR``: Docker build contexts, never images."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from servegate import __version__
from servegate.cli.app import app
from servegate.cli.connection import HomeOption, TokenOption, UrlOption
from servegate.cli.deploy import fail, load_endpoints
from servegate.deploy.build_context import BuildContext, gateway_context, replica_context
from servegate.deploy.kubernetes import model_image, model_uri
from servegate.deploy.naming import image_name
from servegate.errors import ServegateError
from servegate.registry.references import REGISTERED_VERSION, is_version_number

ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def _resolved_version(name: str, reference: str) -> str:
    """A stage or alias as the version it names in the registry now."""
    if is_version_number(reference):
        return reference
    import mlflow  # seconds to import: paid by a build, not by every command

    client = mlflow.MlflowClient()
    if reference.startswith("@"):
        return str(client.get_model_version_by_alias(name, reference[1:]).version)
    found = client.get_latest_versions(name, [reference])
    if not found:
        raise fail(f"Model {name!r} has no version in stage {reference!r}.", 1)
    return str(found[0].version)


def _endpoint_contexts(
    endpoint_name: str, file: Path | None, output: Path, wheel: Path | None, **connection
) -> list[BuildContext]:
    endpoint = load_endpoints([endpoint_name], file, **connection)[0]
    built: dict[str, BuildContext] = {}
    for entity in endpoint.config.served_entities:
        version = _resolved_version(entity.entity_name, entity.entity_version)
        pinned = replace(entity, entity_version=version)
        folder = f"{image_name(entity.entity_name)}-{version}"
        if folder not in built:
            built[folder] = replica_context(
                model_uri(pinned), output / folder, model_image("", pinned), wheel
            )
            wheel = wheel or next((output / folder / "wheels").glob("*.whl"))  # build once
    built["gateway"] = gateway_context(output / "gateway", f"servegate:{__version__}", wheel)
    return list(built.values())


def _image_of(uri: str) -> str:
    match = REGISTERED_VERSION.match(uri)
    if match is None:
        return "servegate-model:latest"
    return f"servegate-model-{image_name(match['name'])}:{match['version']}"


@app.command()
def build(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_URI|ENDPOINT",
            help="A model (models:/NAME/VERSION, runs:/..., a path) or an endpoint's name.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")],
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="For ENDPOINT: read it from this JSON/YAML file."),
    ] = None,
    servegate_wheel: Annotated[
        Path | None,
        typer.Option(help="Put this servegate wheel in the contexts [default: build one]."),
    ] = None,
    registry_uri: Annotated[
        str | None,
        typer.Option(help="MLflow registry to download from [default: $MLFLOW_TRACKING_URI]."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    home: HomeOption = None,
) -> None:
    """Write Docker build contexts: a model's replica image, or every served model of an
    endpoint plus the gateway (DIR/NAME-VERSION/, DIR/gateway/). Builds no image."""
    if registry_uri:
        import mlflow

        mlflow.set_tracking_uri(registry_uri)
    is_endpoint = ENDPOINT_NAME.match(target) and not Path(target).exists()
    try:
        if is_endpoint:
            contexts = _endpoint_contexts(
                target, file, output, servegate_wheel, url=url, token=token, home=home
            )
        else:
            contexts = [replica_context(target, output, _image_of(target), servegate_wheel)]
    except ServegateError as error:
        raise fail(error.message, 1) from error
    for context in contexts:
        typer.echo(f"docker build -t {context.image} {context.path}")  # to copy: never wrapped
