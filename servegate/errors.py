"""Every error servegate reports, and the one place that turns them into responses.

Each class carries the HTTP status and the Databricks/MLflow ``error_code`` it maps to, so
no route builds an error body by hand::

    ServegateError                     500 INTERNAL_ERROR
    ├── BadRequest                     400 BAD_REQUEST
    │   └── InvalidParameterValue      400 INVALID_PARAMETER_VALUE
    ├── Unauthenticated                401 UNAUTHENTICATED
    ├── PermissionDenied               403 PERMISSION_DENIED
    ├── ResourceDoesNotExist           404 RESOURCE_DOES_NOT_EXIST
    ├── ResourceAlreadyExists          409 RESOURCE_ALREADY_EXISTS
    ├── ResourceConflict               409 RESOURCE_CONFLICT
    ├── PayloadTooLarge                413 BAD_REQUEST
    ├── UnsupportedMediaType           415 BAD_REQUEST
    ├── HeadersTooLarge                431 BAD_REQUEST
    ├── RequestLimitExceeded           429 REQUEST_LIMIT_EXCEEDED   (+ Retry-After)
    ├── TemporarilyUnavailable         503 TEMPORARILY_UNAVAILABLE  (+ Retry-After)
    └── DeadlineExceeded               504 DEADLINE_EXCEEDED

Messages must never contain the phrase the Databricks SDK treats as retryable
("Unexpected error"): a user's mistake would then be retried for five minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from servegate.observability import request_ids


class ServegateError(Exception):
    status_code: int = 500
    error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        return {}

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class BadRequest(ServegateError):
    status_code = 400
    error_code = "BAD_REQUEST"


class InvalidParameterValue(BadRequest):
    error_code = "INVALID_PARAMETER_VALUE"


class Unauthenticated(ServegateError):
    status_code = 401
    error_code = "UNAUTHENTICATED"


class PermissionDenied(ServegateError):
    status_code = 403
    error_code = "PERMISSION_DENIED"


class ResourceDoesNotExist(ServegateError):
    status_code = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class ResourceAlreadyExists(ServegateError):
    status_code = 409
    error_code = "RESOURCE_ALREADY_EXISTS"


class ResourceConflict(ServegateError):
    status_code = 409
    error_code = "RESOURCE_CONFLICT"


class PayloadTooLarge(ServegateError):
    status_code = 413
    error_code = "BAD_REQUEST"


class RequestTimeout(ServegateError):
    status_code = 408
    error_code = "BAD_REQUEST"


class UnsupportedMediaType(ServegateError):
    status_code = 415
    error_code = "BAD_REQUEST"


class HeadersTooLarge(ServegateError):
    status_code = 431
    error_code = "BAD_REQUEST"


class _RetryLater(ServegateError):
    """An error the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RequestLimitExceeded(_RetryLater):
    status_code = 429
    error_code = "REQUEST_LIMIT_EXCEEDED"


class TemporarilyUnavailable(_RetryLater):
    status_code = 503
    error_code = "TEMPORARILY_UNAVAILABLE"


class DeadlineExceeded(ServegateError):
    status_code = 504
    error_code = "DEADLINE_EXCEEDED"


def error_response(error: ServegateError) -> Response:
    """The single place an error becomes ``{"error_code", "message"}`` on the wire."""
    return _response(error, error.to_dict())


def oip_error_response(error: ServegateError) -> Response:
    """An error of the Open Inference Protocol's routes: its ``{"error": ...}``, with the two
    fields of every other error beside it."""
    return _response(error, {"error": error.message, **error.to_dict()})


def oip_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """``handler``, its errors answered in the Open Inference Protocol's shape."""

    @functools.wraps(handler)
    async def answered(request: Request) -> Response:
        try:
            return await handler(request)
        except ServegateError as error:
            return oip_error_response(error)

    return answered


def _response(error: ServegateError, body: dict[str, str]) -> Response:
    headers = error.headers()
    if (request_id := request_ids.current.get()) is not None:
        headers[request_ids.HEADER] = request_id
    return Response(
        orjson.dumps(body),
        status_code=error.status_code,
        media_type="application/json",
        headers=headers,
    )


def error_body(error_code: str, message: str, path: str = "") -> bytes:
    """The wire body for errors raised outside a request handler (middleware, proxies); under
    the Open Inference Protocol's ``/v2/`` it also carries that protocol's ``error``."""
    body = {"error_code": error_code, "message": message}
    if path.startswith("/v2/") or path == "/v2":
        body = {"error": message, **body}
    return orjson.dumps(body)
