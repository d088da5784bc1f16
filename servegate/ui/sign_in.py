"""Sign in with an access token, sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from servegate.errors import PermissionDenied
from servegate.ui.api_client import ApiClient, SignInRequired
from servegate.ui.render import fragment
from servegate.ui.session import cross_origin, end_session, start_session


def _next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//elsewhere``)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/ui/"


async def sign_in_form(request: Request) -> Response:
    return fragment(request, "sign_in.html", next=_next(request.query_params.get("next")))


async def sign_in(request: Request) -> Response:
    if cross_origin(request.scope):
        raise PermissionDenied("A page of another origin may not sign you in.")
    form = await request.form()
    token = str(form.get("token", "")).strip()
    target = _next(str(form.get("next", "")))
    if not token:
        error = "Enter an access token."
    else:
        try:
            await ApiClient(request.scope["app"], token).me()
        except SignInRequired:
            error = "That token is not valid, or it has expired or been revoked."
        else:
            response = RedirectResponse(target, 303)
            start_session(response, token, secure=request.url.scheme == "https")
            return response
    return fragment(request, "sign_in.html", 401, next=target, error=error)


async def sign_out(request: Request) -> Response:
    if cross_origin(request.scope):
        raise PermissionDenied("A page of another origin may not sign you out.")
    response = RedirectResponse("/ui/sign-in", 303)
    end_session(response)
    return response
