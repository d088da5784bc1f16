"""Docker build contexts: one per model version (the replica image, model inside) and one
for the gateway (also the generic replica image, which downloads models at start).

A context is a directory ``docker build`` needs nothing else for: a ``Dockerfile``, a
``.dockerignore``, a ``requirements.txt`` and, under ``wheels/``, a wheel of this
servegate built from its source (so the image runs exactly the code that wrote it, and
building needs no access to servegate's repository). The replica context adds ``model/``,
the model version's artifacts. Requirements: a model's own ``requirements.txt`` (MLflow
pins it at log time) plus the wheel; the gateway's are every package servegate needs, at
the versions installed here.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import servegate
from servegate.errors import BadRequest

PORT = 8080
RUN_AS = 10001
MODEL_DIR = "/model"
GATEWAY_HOME = "/var/lib/servegate"
SLIM_IMAGE = "python:{version}-slim-bookworm"
DOCKERIGNORE = "**/__pycache__\n**/*.pyc\n.git\n"
HEALTHCHECK = (
    "HEALTHCHECK --interval=15s --timeout=3s --start-period=300s --retries=3 \\\n"
    '  CMD ["python", "-c", "import urllib.request; '
    f"urllib.request.urlopen('http://127.0.0.1:{PORT}/ping', timeout=2)\"]"
)


@dataclass(frozen=True)
class BuildContext:
    path: Path
    image: str  # the tag we suggest: docker build -t IMAGE PATH


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise BadRequest(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-2000:]}")


def build_servegate_wheel(into: Path, wheel: Path | None = None) -> Path:
    """A wheel of this servegate in ``into``: ``wheel`` copied, or one built from source."""
    into.mkdir(parents=True, exist_ok=True)
    if wheel is not None:
        return Path(shutil.copy2(wheel, into))
    source = Path(servegate.__file__).resolve().parent.parent
    if not (source / "pyproject.toml").is_file():
        raise BadRequest(
            "servegate is installed without its source here; pass --servegate-wheel PATH."
        )
    with tempfile.TemporaryDirectory(prefix="servegate-source-") as scratch:
        tree = Path(scratch)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, tree / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(source / "servegate", tree / "servegate", ignore=ignore)
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), scratch])
    return next(into.glob("servegate-*.whl"))


def pinned_closure(package: str = "servegate") -> list[str]:
    """``name==version`` for ``package``'s installed requirements, transitively."""
    pins: dict[str, str] = {}
    pending = [(package, frozenset[str]())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in extras or {""}):
                continue
            key = canonicalize_name(requirement.name)
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                continue  # not installed here: a platform-specific requirement
            pins[key] = version
            pending.append((requirement.name, frozenset(requirement.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _python_version(model_dir: Path | None) -> str:
    """The Python the model was logged with (its ``python_env.yaml``), else this one."""
    env_file = model_dir / "python_env.yaml" if model_dir else None
    if env_file and env_file.is_file():
        found = str((yaml.safe_load(env_file.read_text()) or {}).get("python") or "")
        if found.count(".") == 2:
            return found
    return platform.python_version()


def _dockerfile(python: str, *, title: str, copy_model: bool, command: list[str]) -> str:
    lines = [
        f"# {title} (written by servegate build)",
        f"FROM {SLIM_IMAGE.format(version=python)}",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp PATH=/opt/venv/bin:$PATH",
        f"RUN groupadd --system --gid {RUN_AS} servegate \\",
        f"  && useradd --system --uid {RUN_AS} --gid {RUN_AS} --no-create-home \\",
        "     --home-dir /nonexistent --shell /usr/sbin/nologin servegate",
        "WORKDIR /build",
        "COPY requirements.txt ./",
        "COPY wheels/ wheels/",
        "RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt",
    ]
    if copy_model:
        lines.append(f"COPY model/ {MODEL_DIR}/")
    else:
        lines.append(f"RUN mkdir -p {GATEWAY_HOME} && chown {RUN_AS}:{RUN_AS} {GATEWAY_HOME}")
        lines.append(f"ENV SERVEGATE_HOME={GATEWAY_HOME}")
        lines.append(f'VOLUME ["{GATEWAY_HOME}"]')
    lines += [
        f"USER {RUN_AS}:{RUN_AS}",
        "WORKDIR /tmp",
        f"EXPOSE {PORT}",
        HEALTHCHECK,
        "CMD [" + ", ".join(f'"{word}"' for word in command) + "]",
    ]
    return "\n".join(lines) + "\n"


def _readable_by_all(tree: Path) -> None:
    tree.chmod(0o755)
    for path in tree.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _model_requirements(model_dir: Path) -> list[str]:
    found = model_dir / "requirements.txt"
    if not found.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in found.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def replica_context(
    model_uri: str, output: Path, image: str, wheel: Path | None = None
) -> BuildContext:
    """``output`` made the build context of an image serving ``model_uri``."""
    if output.exists() and any(output.iterdir()):
        raise BadRequest(f"{output} is not empty; give a new or empty directory.")
    output.mkdir(parents=True, exist_ok=True)
    import mlflow.artifacts  # seconds to import: paid by a build, not by every command

    with tempfile.TemporaryDirectory(prefix="servegate-build-") as scratch:
        try:
            downloaded = mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, dst_path=scratch
            )
        except Exception as error:
            raise BadRequest(f"Cannot download {model_uri}: {error}") from error
        shutil.copytree(downloaded, output / "model")
    _readable_by_all(output / "model")  # the image's user is not the files' owner
    built = build_servegate_wheel(output / "wheels", wheel)
    requirements = [*_model_requirements(output / "model"), f"./wheels/{built.name}"]
    (output / "requirements.txt").write_text("\n".join(requirements) + "\n")
    command = ["servegate", "replica", MODEL_DIR, "--host", "0.0.0.0", "--port", str(PORT)]
    dockerfile = _dockerfile(
        _python_version(output / "model"),
        title=f"servegate replica of {model_uri}",
        copy_model=True,
        command=command,
    )
    (output / "Dockerfile").write_text(dockerfile)
    (output / ".dockerignore").write_text(DOCKERIGNORE)
    return BuildContext(output, image)


def gateway_context(output: Path, image: str, wheel: Path | None = None) -> BuildContext:
    """``output`` made the build context of servegate's own image (gateway, generic replica)."""
    output.mkdir(parents=True, exist_ok=True)
    built = build_servegate_wheel(output / "wheels", wheel)
    requirements = [*pinned_closure(), f"./wheels/{built.name}"]
    (output / "requirements.txt").write_text("\n".join(requirements) + "\n")
    command = ["servegate", "serve", "--host", "0.0.0.0", "--port", str(PORT)]
    (output / "Dockerfile").write_text(
        _dockerfile(
            platform.python_version(), title="servegate gateway", copy_model=False, command=command
        )
    )
    (output / ".dockerignore").write_text(DOCKERIGNORE)
    return BuildContext(output, image)
