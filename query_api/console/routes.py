"""`POST /console/api/kql`: the console's query bar compiled to the API's Query (SPEC §11).

The compiler (`query_api.query.kql`) is pure; this route only authenticates the caller as
every API route does and answers `{"query": {"filter", "filter_or"}}`, or 400 with
`ERROR_INVALID_QUERY`, the message, and the `position` (1-based) and `field` when known.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from query_api.query.kql import TARGETS, KqlError, compile_kql
from query_api.rest.deps import CallerDep
from schemas.console import KqlRequest
from schemas.errors import error_body
from schemas.messages import ErrorResponse

router = APIRouter(
    prefix="/console/api", tags=["console"],
    responses={status: {"model": ErrorResponse} for status in (400, 401, 429)},
)  # fmt: skip


@router.post("/kql", response_model=None)
async def kql(request: KqlRequest, caller: CallerDep) -> dict[str, Any] | JSONResponse:
    """A KQL query (and the pills) as a Query's `filter` and `filter_or`."""
    try:
        query = compile_kql(
            request.query,
            target=TARGETS[request.target],
            time_zone=request.time_zone,
            filters=request.filters,
        )
    except KqlError as error:
        body = error_body("ERROR_INVALID_QUERY", error.message)
        body["error"] |= {"position": error.position, "field": error.field}
        return JSONResponse(body, status_code=400)
    return {"query": query}
