"""MLflow's own tracking/registry server, mounted inside the gateway.

MLflow 3.17 builds its server as a FastAPI app (``mlflow.server.fastapi_app``) that reads
its stores from environment variables *when the module is imported*, so they are set here
first. Artifacts are proxied (``mlflow-artifacts:/``) so remote clients can upload models
with nothing but ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp


def tracking_store_uri(mlflow_dir: Path) -> str:
    return f"sqlite:///{mlflow_dir / 'mlflow.db'}"


def initialize_registry_database(mlflow_dir: Path) -> None:
    """Create (or migrate) the registry's tables, once, before worker processes open it:
    MLflow's own migrations must not race each other."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    artifacts = mlflow_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    SqlAlchemyStore(tracking_store_uri(mlflow_dir), str(artifacts)).engine.dispose()


def create_embedded_mlflow_app(mlflow_dir: Path) -> ASGIApp:
    artifacts = mlflow_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    store_uri = tracking_store_uri(mlflow_dir)
    os.environ.update(
        {
            "_MLFLOW_SERVER_FILE_STORE": store_uri,
            "_MLFLOW_SERVER_REGISTRY_STORE": store_uri,
            "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",
            "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
            "_MLFLOW_SERVER_ARTIFACT_DESTINATION": str(artifacts),
        }
    )
    from mlflow.server import handlers
    from mlflow.server.fastapi_app import create_fastapi_app

    # Create the stores (and run MLflow's own migrations) now, not on the first request.
    handlers._get_tracking_store()
    handlers._get_model_registry_store()
    return create_fastapi_app()
