"""The web UI: server-rendered pages (Jinja2 + htmx) over servegate's own REST API."""

from servegate.ui.render import exception_handlers
from servegate.ui.routes import ui_routes

__all__ = ["exception_handlers", "ui_routes"]
