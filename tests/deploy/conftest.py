"""Running ``servegate deploy`` and ``servegate build`` as a user would, and reading back
what they wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from typer.testing import CliRunner, Result

from servegate.cli import app
from servegate.deploy.kubernetes import KUBERNETES_VERSION


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def manifests_in(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Each file the kustomization lists, and the objects in it (so nothing written is
    left out of what ``kubectl apply -k`` would apply)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return {
        name: [doc for doc in yaml.safe_load_all((directory / name).read_text()) if doc]
        for name in kustomization["resources"]
    }


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [manifest for manifest in objects if manifest["kind"] == kind]


def validate_strictly(manifest: dict[str, Any]) -> None:
    """The official schemas of the pinned Kubernetes version; unknown fields are errors."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
