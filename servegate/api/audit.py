"""The audit log for administrators: ``GET /api/2.0/audit/events``."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.errors import InvalidParameterValue
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.responses import OrjsonResponse


async def list_events(request: Request) -> Response:
    context: GatewayContext = request.app.state.context
    context.access.require_admin(caller_of(request), "read the audit log")
    params = request.query_params
    try:
        since = int(params.get("since_ms", "0"))
        limit = int(params.get("limit", "1000"))
    except ValueError as error:
        raise InvalidParameterValue("since_ms and limit must be integers.") from error
    if not 1 <= limit <= 10_000:
        raise InvalidParameterValue("limit must be between 1 and 10000.")
    await context.audit.flush()
    rows = await run_in_threadpool(context.audit.store.list, since, params.get("principal"), limit)
    return OrjsonResponse(
        {
            "events": [
                {
                    "timestamp": row.timestamp,
                    "principal": row.principal,
                    "method": row.method,
                    "path": row.path,
                    "status": row.status,
                    "client": row.client,
                }
                for row in rows
            ],
            "dropped": context.audit.dropped,
        }
    )


routes = [Route("/api/2.0/audit/events", list_events, methods=["GET"])]
