"""``servegate serve --workers N``: N gateway processes sharing one listening socket.

The parent migrates the store and the registry's database and makes the admin token, once;
then it hands every worker the same settings, with one process token, so a replica started
by whichever worker leads is let into the embedded registry by all of them. Workers elect
a leader among themselves (``servegate.gateway.role``); uvicorn's supervisor restarts any
worker that dies.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from servegate.auth.admin import ensure_admin_token
from servegate.auth.tokens import TokenStore, new_token
from servegate.observability.log_format import configure_logging
from servegate.registry.embedded import initialize_registry_database
from servegate.settings import Settings
from servegate.store.database import Database

SETTINGS_VARIABLE = "SERVEGATE_WORKER_SETTINGS"
FACTORY = f"{__name__}:create_worker_app"


def prepare_workers(settings: Settings) -> tuple[str, bool]:
    """Set up what workers share; returns the admin token and whether it is new."""
    settings.ensure_home()
    if settings.embedded_registry:
        initialize_registry_database(settings.mlflow_dir)
    database = Database(settings.resolved_store_url)
    try:
        database.migrate()
        admin_token, created = ensure_admin_token(settings, TokenStore(database))
    finally:
        database.dispose()
    shared = settings.model_copy(update={"process_token": settings.process_token or new_token()})
    os.environ[SETTINGS_VARIABLE] = shared.model_dump_json()
    return admin_token, created


def create_worker_app() -> ASGIApp:
    from servegate.gateway.app import build_gateway

    settings = Settings.model_validate_json(os.environ[SETTINGS_VARIABLE])
    configure_logging(settings.log_format)
    return build_gateway(settings).app
