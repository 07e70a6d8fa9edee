"""`POST /monitoring/v1/alert/<method>` and `/monitoring/v1/note/<method>`: the HTTP face of
`query_api.services.alerts` and `.notes`, with Cloudforet's methods and JSON (SPEC §9).
Each route is the service operation of the same name (`query_api.rest.operations`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from query_api.rest.operations import post
from query_api.services import alerts, notes
from query_api.services.alerts import AlertBackend
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 501, 503)
}
router = APIRouter(prefix="/monitoring/v1/alert", tags=["alert"], responses=ERRORS)
note_router = APIRouter(prefix="/monitoring/v1/note", tags=["note"], responses=ERRORS)


async def get_backend(request: Request) -> AlertBackend:
    return request.app.state.alerts


Backend = Annotated[AlertBackend, Depends(get_backend)]

post(router, "/create", alerts.create, Backend)
post(router, "/update", alerts.update, Backend)
# Not provided (501): the no-auth callback of notification links, so no key is asked for.
post(router, "/update_state", alerts.update_state, Backend, authenticated=False)
post(router, "/merge", alerts.merge, Backend)
post(router, "/snooze", alerts.snooze, Backend)
post(router, "/add_responder", alerts.add_responder, Backend)
post(router, "/remove_responder", alerts.remove_responder, Backend)
post(router, "/add_project_dependency", alerts.add_project_dependency, Backend)
post(router, "/remove_project_dependency", alerts.remove_project_dependency, Backend)
post(router, "/delete", alerts.delete, Backend)
post(router, "/get", alerts.get, Backend)
post(router, "/list", alerts.list_, Backend)
post(router, "/stat", alerts.stat, Backend)

post(note_router, "/create", notes.create, Backend, name="create_note")
post(note_router, "/update", notes.update, Backend, name="update_note")
post(note_router, "/delete", notes.delete, Backend, name="delete_note")
post(note_router, "/get", notes.get, Backend, name="get_note")
post(note_router, "/list", notes.list_, Backend, name="list_notes")
post(note_router, "/stat", notes.stat, Backend, name="stat_notes")
