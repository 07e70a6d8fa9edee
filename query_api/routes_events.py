"""`POST /monitoring/v1/event/get | list | stat`: read events, confined to the caller's domain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from query_api.deps import CallerDep, EsDep, SettingsDep, domain_scope
from query_api.errors import ApiError
from query_api.search import get_event, list_events
from query_api.stat_search import run_stat
from schemas.messages import ErrorResponse, EventQuery, EventStatQuery, GetEventRequest

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/event", tags=["event"], responses=ERRORS)


@router.post("/get")
async def get(
    request: GetEventRequest, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """One event by id; `only` limits the fields returned."""
    domain = domain_scope(caller, request.domain_id)
    event = await get_event(es, settings.indices.events, request.event_id, domain, request.only)
    if event is None:
        raise ApiError(404, "ERROR_NOT_FOUND", f"event {request.event_id!r} not found")
    return event


@router.post("/list")
async def list_(
    request: EventQuery, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Events matching a Query and the exact-match filters: `{results, total_count}`."""
    domain = domain_scope(caller, request.domain_id)
    results, total = await list_events(
        es, settings.indices.events, request.query, request.exact_filters(), domain
    )
    return {"results": results, "total_count": total}


@router.post("/stat")
async def stat(
    request: EventStatQuery, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Aggregations over the matching events (StatisticsQuery, SPEC §6)."""
    domain = domain_scope(caller, request.domain_id)
    return await run_stat(es, settings.indices.events, request.query, domain)
