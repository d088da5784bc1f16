"""``servegate build``: build contexts whose Dockerfile says the right things, and whose
install and start commands, run outside a container on the copied context, serve the
model's own predictions.

No image is built (there is no Docker engine here). Installing every requirement into a
fresh virtualenv takes minutes on this machine (2 m 40 s measured), so by default the new
virtualenv also sees the test environment's packages (a ``.pth`` line, appended after its
own site-packages): pip then installs what the environment lacks — servegate itself, from
the context's wheel — and checks that everything else pinned is satisfied.
``SERVEGATE_TEST_FRESH_VENV=1`` installs everything fresh instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import mlflow
import pytest
import requests
from dockerfile_parse import DockerfileParser

from tests.deploy.conftest import run_cli
from tests.models import register_sklearn
from tests.ports import free_port, wait_listening

FRESH = os.environ.get("SERVEGATE_TEST_FRESH_VENV") == "1"


def instructions(context: Path) -> list[tuple[str, str]]:
    parser = DockerfileParser(path=str(context / "Dockerfile"))
    return [(item["instruction"], item["value"]) for item in parser.structure]


def only(found: list[tuple[str, str]], instruction: str) -> str:
    (value,) = [value for name, value in found if name == instruction]
    return value


def install(context: Path, venv: Path) -> None:
    """The Dockerfile's own install command, with /opt/venv moved to ``venv``."""
    run = [value for name, value in instructions(context) if name == "RUN" and "pip" in value]
    (command,) = run
    assert command == "python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not FRESH:
        site = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
        (site / "zz-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = command.split("&&")[1].replace("/opt/venv", str(venv))
    done = subprocess.run(
        shlex.split(pip), cwd=context, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def started(command: list[str], venv: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The image's CMD on this machine: ``servegate`` from the virtualenv, started away
    from the source tree (which a working directory on ``sys.path`` would import)."""
    path = f"{venv / 'bin'}:{os.environ['PATH']}"
    return subprocess.Popen(
        command, env={**env, "PATH": path}, cwd=env["HOME"], stdout=subprocess.DEVNULL
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


def on_this_machine(cmd: list[str], replacements: dict[str, str]) -> list[str]:
    return [replacements.get(word, word) for word in cmd]


@pytest.fixture(scope="module")
def registered() -> tuple[str, object]:
    uri, sample = register_sklearn("build-churn")
    mlflow.MlflowClient().set_registered_model_alias("build-churn", "champion", "1")
    return uri, sample


@pytest.fixture(scope="module")
def replica_context(
    registered: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    context = tmp_path_factory.mktemp("build") / "churn"
    result = run_cli("build", registered[0], "-o", str(context))
    assert result.exit_code == 0, result.output
    assert f"docker build -t servegate-model-build-churn:1 {context}" in result.output
    return context


def test_replica_dockerfile(replica_context: Path) -> None:
    found = instructions(replica_context)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm", only(found, "FROM"))
    assert only(found, "USER") == "10001:10001"
    assert only(found, "EXPOSE") == "8080"
    assert ("COPY", "model/ /model/") in found
    healthcheck = only(found, "HEALTHCHECK")
    assert "urllib.request.urlopen('http://127.0.0.1:8080/ping'" in healthcheck
    assert json.loads(only(found, "CMD")) == [
        "servegate", "replica", "/model", "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip
    names = [name for name, _ in found]
    assert names.index("USER") > names.index("RUN") and names.index("USER") < names.index("CMD")
    assert (replica_context / ".dockerignore").read_text().startswith("**/__pycache__")


def test_replica_requirements_are_the_models_plus_a_servegate_wheel(replica_context: Path) -> None:
    lines = (replica_context / "requirements.txt").read_text().split()
    model_pins = (replica_context / "model" / "requirements.txt").read_text().split()
    assert [line for line in model_pins if not line.startswith("#")] == lines[:-1]
    assert any(line.startswith("mlflow==") for line in lines)
    (wheel,) = (replica_context / "wheels").glob("servegate-*.whl")
    assert lines[-1] == f"./wheels/{wheel.name}"
    mode = (replica_context / "model" / "MLmodel").stat().st_mode
    assert mode & 0o004, "the image's non-root user must read the model"


@pytest.fixture(scope="module")
def venv(replica_context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "venv"
    install(replica_context, venv)
    return venv


def test_the_image_command_serves_the_models_predictions(
    replica_context: Path, venv: Path, registered: tuple[str, object], tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import servegate; print(servegate.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), "servegate must come from the context's wheel"
    port = free_port()
    cmd = json.loads(only(instructions(replica_context), "CMD"))
    command = on_this_machine(
        cmd, {"/model": str(replica_context / "model"), "0.0.0.0": "127.0.0.1", "8080": str(port)}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # no registry
    process = started(command, venv, {**env, "HOME": str(tmp_path)})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_listening(url, process)
        sample = registered[1].head(20)  # type: ignore[attr-defined]
        body = {"dataframe_split": json.loads(sample.to_json(orient="split"))}
        answer = requests.post(f"{url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        expected = mlflow.pyfunc.load_model(str(replica_context / "model")).predict(sample)
        assert answer.json()["predictions"] == expected.tolist()
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        stop(process)


def test_endpoint_contexts_and_the_gateway_image(
    registered: tuple[str, object], venv: Path, tmp_path: Path
) -> None:
    endpoints = tmp_path / "endpoints.yaml"
    endpoints.write_text(
        "name: churn\nconfig:\n  served_entities:\n"
        "    - {name: pinned, entity_name: build-churn, entity_version: '1'}\n"
        "    - {name: champion, entity_name: build-churn, entity_version: '@champion'}\n"
        "  traffic_config: {routes: [{served_model_name: pinned, traffic_percentage: 50},"
        " {served_model_name: champion, traffic_percentage: 50}]}\n"
    )
    output = tmp_path / "contexts"
    result = run_cli("build", "churn", "-f", str(endpoints), "-o", str(output))
    assert result.exit_code == 0, result.output
    # both served models are version 1 (the alias resolved): one replica context
    assert sorted(path.name for path in output.iterdir()) == ["build-churn-1", "gateway"]
    gateway = output / "gateway"
    found = instructions(gateway)
    assert only(found, "USER") == "10001:10001"
    assert json.loads(only(found, "CMD")) == [
        "servegate", "serve", "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip
    pins = (gateway / "requirements.txt").read_text().split()
    assert all("==" in line for line in pins[:-1]) and pins[-1].startswith("./wheels/servegate-")
    assert any(line.startswith("starlette==") for line in pins)

    install(gateway, venv)  # the gateway's pins into the same virtualenv: all satisfied
    port = free_port()
    command = on_this_machine(
        json.loads(only(found, "CMD")), {"0.0.0.0": "127.0.0.1", "8080": str(port)}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SERVEGATE_"))}
    process = started(
        command, venv, {**env, "HOME": str(tmp_path), "SERVEGATE_HOME": str(tmp_path / "home")}
    )
    try:
        wait_listening(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)


def test_build_of_a_missing_model_fails_clearly(tmp_path: Path) -> None:
    result = run_cli("build", "models:/no-such-model/1", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "Cannot download models:/no-such-model/1" in " ".join(result.output.split())
