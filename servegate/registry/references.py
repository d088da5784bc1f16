"""A model reference: a version number (``3``), a stage (``Staging``, ``Production``) or an
alias (``@champion``). Plain text rules, kept apart from the registry client so that what only
reads references (the API's schemas, the CLI, manifests) does not import MLflow."""

from __future__ import annotations

import re

STAGES = ("Staging", "Production")
REGISTERED_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")  # one version
_VERSION = re.compile(r"^\d+$")


def is_version_number(reference: str) -> bool:
    return bool(_VERSION.match(reference))


def canonical_reference(reference: str) -> str:
    """``production`` → ``Production``; versions and ``@aliases`` unchanged."""
    for stage in STAGES:
        if reference.lower() == stage.lower():
            return stage
    return reference


def describe_reference(reference: str) -> str:
    if is_version_number(reference):
        return f"version {reference}"
    if reference.startswith("@"):
        return f"alias {reference}"
    return f"stage {reference}"
