"""`POST /monitoring/v1/event/get | list | stat`: the HTTP face of `query_api.services.events`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from query_api.rest.deps import EsDep, SettingsDep
from query_api.rest.operations import post
from query_api.services import events
from query_api.services.events import EventIndex
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/event", tags=["event"], responses=ERRORS)


async def get_index(es: EsDep, settings: SettingsDep) -> EventIndex:
    return EventIndex(es, settings.indices.events)


IndexDep = Annotated[EventIndex, Depends(get_index)]


post(router, "/get", events.get_one, IndexDep, name="get")
post(router, "/list", events.list_page, IndexDep, name="list_")
post(router, "/stat", events.stat, IndexDep)
