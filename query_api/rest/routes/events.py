"""`POST /monitoring/v1/event/get | list | stat`: the HTTP face of `query_api.services.events`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from query_api.rest.deps import CallerDep, EsDep, SettingsDep
from query_api.services import events
from query_api.services.events import EventIndex
from schemas.messages import ErrorResponse, EventQuery, EventStatQuery, GetEventRequest

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/event", tags=["event"], responses=ERRORS)


async def get_index(es: EsDep, settings: SettingsDep) -> EventIndex:
    return EventIndex(es, settings.indices.events)


IndexDep = Annotated[EventIndex, Depends(get_index)]


@router.post("/get")
async def get(request: GetEventRequest, caller: CallerDep, ix: IndexDep) -> dict[str, Any]:
    """One event by id; `only` limits the fields returned."""
    return await events.get_one(ix, caller, request)


@router.post("/list")
async def list_(request: EventQuery, caller: CallerDep, ix: IndexDep) -> dict[str, Any]:
    """Events matching a Query and the exact-match filters: `{results, total_count}`."""
    return await events.list_page(ix, caller, request)


@router.post("/stat")
async def stat(request: EventStatQuery, caller: CallerDep, ix: IndexDep) -> dict[str, Any]:
    """Aggregations over the matching events (StatisticsQuery, SPEC §6)."""
    return await events.stat(ix, caller, request)
