"""``servegate quickstart``: from nothing to a served, split endpoint in one command.

Starts the gateway (unless one already answers), trains a small scikit-learn model on a data
set that ships with scikit-learn, registers two versions through the embedded MLflow
registry, serves both from endpoint ``quickstart`` at 80/20, waits until it is READY and
prints ways to query it that work exactly as printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
from rich.console import Console

from servegate.cli.app import app
from servegate.cli.serve import make_settings
from servegate.settings import Settings

ENDPOINT = "quickstart"
MODEL = "quickstart-model"
# What the model needs, pinned here rather than inferred by MLflow, which loads each model in
# a subprocess to watch its imports (seconds a version).
REQUIREMENTS = ("mlflow", "scikit-learn", "skops")
console = Console()


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def _start_gateway(settings: Settings, url: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "servegate",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--home",
        str(settings.home),
    ]
    if settings.registry_uri:
        command += ["--registry-uri", settings.registry_uri]
    gateway = subprocess.Popen(command)
    deadline = time.monotonic() + 180
    while not _healthy(url):
        if gateway.poll() is not None:
            _fail(f"servegate serve exited with code {gateway.returncode}")
        if time.monotonic() > deadline:
            gateway.terminate()
            _fail("servegate serve did not start within 180s")
        time.sleep(0.3)
    return gateway


def _register_versions(url: str, token: str) -> list[str]:
    """Two registered versions of a breast-cancer classifier (reused if already there)."""
    os.environ["MLFLOW_TRACKING_URI"] = url
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    client = mlflow.MlflowClient()
    existing = sorted((v.version for v in client.search_model_versions(f"name='{MODEL}'")), key=int)
    if len(existing) >= 2:
        return existing[:2]
    features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
    mlflow.set_experiment("quickstart")
    versions = []
    for strength in (1.0, 0.05):
        with mlflow.start_run(run_name=f"logreg-C{strength}"):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=2000))
            model.fit(features, labels)
            mlflow.log_param("C", strength)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=features.head(2),
                registered_model_name=MODEL,
                pip_requirements=[f"{name}=={version(name)}" for name in REQUIREMENTS],
            )
            versions.append(str(info.registered_model_version))
    return versions


def _ensure_endpoint(api: httpx.Client, versions: list[str]) -> None:
    if api.get(f"/api/2.0/serving-endpoints/{ENDPOINT}").status_code == 200:
        return
    names = [f"{MODEL}-{version}" for version in versions]
    response = api.post(
        "/api/2.0/serving-endpoints",
        json={
            "name": ENDPOINT,
            "config": {
                "served_entities": [
                    {
                        "name": name,
                        "entity_name": MODEL,
                        "entity_version": version,
                        "workload_size": "Small",
                        "scale_to_zero_enabled": False,
                    }
                    for name, version in zip(names, versions, strict=True)
                ],
                "traffic_config": {
                    "routes": [
                        {"served_model_name": names[0], "traffic_percentage": 80},
                        {"served_model_name": names[1], "traffic_percentage": 20},
                    ]
                },
            },
        },
    )
    if response.status_code != 200:
        _fail(f"creating the endpoint failed: {response.text}")


def _wait_ready(api: httpx.Client, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    with console.status(f"Waiting for endpoint '{ENDPOINT}' to be READY..."):
        while time.monotonic() < deadline:
            state = api.get(f"/api/2.0/serving-endpoints/{ENDPOINT}").json()["state"]
            if state["ready"] == "READY" and state["config_update"] == "NOT_UPDATING":
                return
            if state["config_update"] == "UPDATE_FAILED":
                _fail(f"endpoint '{ENDPOINT}' failed to deploy; see its build logs")
            time.sleep(0.5)
    _fail(f"endpoint '{ENDPOINT}' was not READY within {timeout_s:.0f}s")


def snippets(url: str, token_path: Path | None) -> str:
    """Query examples that run as printed. The token is never shown: they read it from its
    file, or from ``$SERVEGATE_ADMIN_TOKEN`` when that is where it came from."""
    if token_path is None:
        shell_token = "$SERVEGATE_ADMIN_TOKEN"
        python_token = 'os.environ["SERVEGATE_ADMIN_TOKEN"]'
        imports = "import os\n  "
    else:
        shell_token = f"$(cat {token_path})"
        python_token = f'open("{token_path}").read().strip()'
        imports = ""
    row = _example_row()
    columns = ", ".join(f'"{name}"' for name in row)
    values = ", ".join(repr(value) for value in row.values())
    body = f'{{"dataframe_split": {{"columns": [{columns}], "data": [[{values}]]}}}}'
    return f"""\
curl:
  curl -s -X POST {url}/serving-endpoints/{ENDPOINT}/invocations \\
    -H "Authorization: Bearer {shell_token}" \\
    -H "Content-Type: application/json" \\
    -d '{body}'

Python (requests):
  {imports}import requests
  token = {python_token}
  response = requests.post(
      "{url}/serving-endpoints/{ENDPOINT}/invocations",
      headers={{"Authorization": f"Bearer {{token}}"}},
      json={body},
  )
  print(response.headers["served-model-name"], response.json()["predictions"])

Python (databricks-sdk):
  {imports}from databricks.sdk import WorkspaceClient
  from databricks.sdk.service.serving import DataframeSplitInput
  w = WorkspaceClient(host="{url}", token={python_token}, auth_type="pat")
  answer = w.serving_endpoints.query(
      name="{ENDPOINT}",
      dataframe_split=DataframeSplitInput(columns=[{columns}], data=[[{values}]]),
  )
  print(answer.served_model_name, answer.predictions)
"""


def _example_row() -> dict[str, float]:
    from sklearn.datasets import load_breast_cancer

    features = load_breast_cancer(as_frame=True).data
    return {name: float(value) for name, value in features.iloc[0].items()}


@app.command()
def quickstart(
    host: Annotated[str | None, typer.Option(help="Address [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8080].")] = None,
    home: Annotated[Path | None, typer.Option(help="Home [default: ~/.servegate].")] = None,
) -> None:
    """Train, register and serve a demo model, then keep serving it."""
    settings = make_settings(host=host, port=port, home=home)
    url = settings.local_url
    gateway = None if _healthy(url) else _start_gateway(settings, url)
    token = settings.stored_admin_token()
    if token is None:
        _fail(f"no admin token: set SERVEGATE_ADMIN_TOKEN or create {settings.admin_token_path}")
    try:
        with console.status("Training and registering two model versions..."):
            versions = _register_versions(url, token)
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        _ensure_endpoint(api, versions)
        _wait_ready(api)
        console.print(
            f"\n[bold green]Endpoint '{ENDPOINT}' is READY[/] serving {MODEL} "
            f"versions {versions[0]} (80%) and {versions[1]} (20%).\n"
        )
        token_path = None if settings.admin_token else settings.admin_token_path
        print(snippets(url, token_path), flush=True)
        if gateway is not None:
            console.print("Serving until you press Ctrl-C.")
            gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.terminate()
            gateway.wait(timeout=60)
