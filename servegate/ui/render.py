"""Pages from Jinja2 templates, and what every page shows: the signed-in user, the nav."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from servegate import __version__
from servegate.errors import PermissionDenied
from servegate.ui.api_client import ApiClient, ApiError, SignInRequired, api_for
from servegate.ui.views import state_badge, traffic_shares

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["version"] = __version__
templates.env.filters["state_badge"] = state_badge
templates.env.filters["traffic_shares"] = traffic_shares


def _when(milliseconds: int | None) -> str:
    if not milliseconds:
        return ""
    moment = datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    """``90`` → ``1 min 30 s``; ``86400`` → ``1 d``: the two largest units that apply."""
    parts = []
    left = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size} {unit}")
            left %= size
    return " ".join(parts[:2]) or f"{seconds:g} s"


templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration


async def page(request: Request, api: ApiClient, template: str, **context: Any) -> Response:
    """A whole page: the template with the signed-in user for the header."""
    user = await api.me()
    return templates.TemplateResponse(request, template, {"user": user, **context})


def fragment(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Part of a page, for htmx to swap in."""
    return templates.TemplateResponse(request, template, context, status_code=status_code)


async def sign_in_required(request: Request, error: Exception) -> Response:
    """Back to the sign-in form, then to where the user was going."""
    assert isinstance(error, SignInRequired)
    target = f"/ui/sign-in?next={request.url.path}"
    if request.headers.get("hx-request"):  # htmx follows this header, not a redirect
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


async def api_refused(request: Request, error: Exception) -> Response:
    """What the API said, shown as a page (or a fragment for htmx)."""
    assert isinstance(error, ApiError)
    if request.headers.get("hx-request"):
        return fragment(request, "error_fragment.html", error.status, error=error)
    try:  # the header still shows who is signed in, with the way out
        user = await api_for(request).me()
    except (SignInRequired, ApiError, PermissionDenied):
        user = None
    return fragment(request, "error.html", error.status, error=error, user=user)


exception_handlers = {SignInRequired: sign_in_required, ApiError: api_refused}
