"""What a model's virtualenv must hold: the model's own requirements, and servegate's.

MLflow writes ``requirements.txt`` (pinned by the environment that logged the model) and
``python_env.yaml`` (its Python version) next to ``MLmodel``. The replica itself needs
servegate's runtime requirements too; where the model names a package servegate also
requires (scikit-learn, say), the model's requirement wins, so the model runs with the
libraries it was logged with.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import servegate
from servegate.environments.manager import EnvironmentFailed

REQUIREMENTS_FILE = "requirements.txt"
_BUILD_ONLY = {"uv"}  # servegate's requirements a replica inside an environment never uses
PYTHON_ENV_FILE = "python_env.yaml"


@dataclass(frozen=True)
class EnvironmentRequirements:
    """``model_file``: the model's requirements.txt (given to uv as is, so its ``-c`` and
    ``-r`` lines keep working); ``servegate``: servegate's requirements the model leaves to
    it; ``digest``: names the built environment in the cache."""

    model_file: Path
    servegate: tuple[str, ...]
    digest: str


def read_requirements(model_dir: Path) -> EnvironmentRequirements:
    """The environment ``model_dir``'s model needs; fails if it wants another Python."""
    model_file = model_dir / REQUIREMENTS_FILE
    if not model_file.is_file():
        raise EnvironmentFailed(
            f"the model has no {REQUIREMENTS_FILE} to build a virtualenv from; "
            "log it with MLflow (which writes one) or serve it with env_manager 'local'"
        )
    _check_python(model_dir / PYTHON_ENV_FILE)
    lines = _requirement_lines(model_file)
    named = {name for line in lines if (name := _name(line)) is not None}
    own = tuple(sorted(r for r in _servegate_requirements() if _name(r) not in named))
    key = {
        "python": platform.python_version(),
        "base": sys.base_prefix,
        "model": sorted(lines),
        "servegate": [servegate.__version__, str(Path(servegate.__file__).parent), *own],
    }
    digest = hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return EnvironmentRequirements(model_file, own, digest)


def _check_python(python_env: Path) -> None:
    """A virtualenv is made with the server's Python: a model logged with another minor
    version would load libraries built for a Python it does not run on."""
    if not python_env.is_file():
        return
    wanted = str((yaml.safe_load(python_env.read_text()) or {}).get("python") or "")
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and wanted.split(".")[:2] != ours.split("."):
        raise EnvironmentFailed(
            f"the model was logged with Python {wanted} ({PYTHON_ENV_FILE}), and this server "
            f"builds virtualenvs with its own Python {platform.python_version()}; serve it "
            f"from a server running Python {'.'.join(wanted.split('.')[:2])}"
        )


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _name(line: str) -> str | None:
    """The canonical package name a requirement line names, if it is a plain requirement."""
    if line.startswith("-"):
        return None
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:  # a URL or a path: nothing to match servegate's against
        return None


def _servegate_requirements() -> list[str]:
    """servegate's runtime requirements (no extras), from its installed metadata."""
    try:
        declared = importlib.metadata.requires("servegate") or []
    except importlib.metadata.PackageNotFoundError as error:
        raise EnvironmentFailed(
            "servegate is not installed as a package, so the requirements a replica needs "
            "are unknown; install it (pip install servegate, or pip install -e a checkout)"
        ) from error
    kept = []
    for text in declared:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) in _BUILD_ONLY:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            requirement.marker = None
            kept.append(str(requirement))
    return kept
