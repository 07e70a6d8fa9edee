"""`POST /monitoring/v1/alert/<method>` and `/monitoring/v1/note/<method>`: the HTTP face of
`query_api.services.alerts` and `.notes`, with Cloudforet's methods and JSON (SPEC §9).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from query_api.rest.deps import CallerDep
from query_api.services import alerts, notes
from query_api.services.alerts import AlertBackend
from schemas.alert import (
    AlertProjectDependencyRequest,
    AlertQuery,
    AlertRequest,
    AlertResponderRequest,
    AlertStatQuery,
    CreateAlertRequest,
    CreateNoteRequest,
    GetAlertRequest,
    GetNoteRequest,
    MergeAlertRequest,
    NoteQuery,
    NoteRequest,
    NoteStatQuery,
    SnoozeAlertRequest,
    UpdateAlertRequest,
    UpdateAlertStateRequest,
    UpdateNoteRequest,
)
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 429, 501, 503)
}
router = APIRouter(prefix="/monitoring/v1/alert", tags=["alert"], responses=ERRORS)
note_router = APIRouter(prefix="/monitoring/v1/note", tags=["note"], responses=ERRORS)


async def get_backend(request: Request) -> AlertBackend:
    return request.app.state.alerts


Backend = Annotated[AlertBackend, Depends(get_backend)]
Answer = dict[str, Any]


@router.post("/create")
async def create(request: CreateAlertRequest, caller: CallerDep, b: Backend) -> Answer:
    """A new TRIGGERED alert by a person (triggered_by: the caller's key id)."""
    return await alerts.create(b, caller, request)


@router.post("/update")
async def update(request: UpdateAlertRequest, caller: CallerDep, b: Backend) -> Answer:
    """Change state (TRIGGERED, ACKNOWLEDGED, RESOLVED), title, description, assignee,
    urgency, status_message, project_id; reset_* empty a field."""
    return await alerts.update(b, caller, request)


@router.post("/update_state")
async def update_state(request: UpdateAlertStateRequest, b: Backend) -> Answer:
    """Not provided (501 ERROR_NOT_IMPLEMENTED): the no-auth callback of notification links."""
    return await alerts.update_state(b, None, request)


@router.post("/merge")
async def merge(request: MergeAlertRequest, caller: CallerDep, b: Backend) -> Answer:
    """Move the events of `alerts` to `merge_to`, delete the others."""
    return await alerts.merge(b, caller, request)


@router.post("/snooze")
async def snooze(request: SnoozeAlertRequest, caller: CallerDep, b: Backend) -> Answer:
    return await alerts.snooze(b, caller, request)


@router.post("/add_responder")
async def add_responder(request: AlertResponderRequest, caller: CallerDep, b: Backend) -> Answer:
    return await alerts.add_responder(b, caller, request)


@router.post("/remove_responder")
async def remove_responder(request: AlertResponderRequest, caller: CallerDep, b: Backend) -> Answer:
    return await alerts.remove_responder(b, caller, request)


@router.post("/add_project_dependency")
async def add_project_dependency(
    request: AlertProjectDependencyRequest, caller: CallerDep, b: Backend
) -> Answer:
    return await alerts.add_project_dependency(b, caller, request)


@router.post("/remove_project_dependency")
async def remove_project_dependency(
    request: AlertProjectDependencyRequest, caller: CallerDep, b: Backend
) -> Answer:
    return await alerts.remove_project_dependency(b, caller, request)


@router.post("/delete")
async def delete(request: AlertRequest, caller: CallerDep, b: Backend) -> Answer:
    """Remove the alert and its notes (its events keep their alert_id): `{}`."""
    return await alerts.delete(b, caller, request)


@router.post("/get")
async def get(request: GetAlertRequest, caller: CallerDep, b: Backend) -> Answer:
    """One alert by id; another domain's alert is 404, as one that does not exist."""
    return await alerts.get(b, caller, request)


@router.post("/list")
async def list_(request: AlertQuery, caller: CallerDep, b: Backend) -> Answer:
    """Alerts matching a Query and AlertQuery's filters: `{results, total_count}`."""
    return await alerts.list_(b, caller, request)


@router.post("/stat")
async def stat(request: AlertStatQuery, caller: CallerDep, b: Backend) -> Answer:
    """A StatisticsQuery over alert fields (e.g. alerts counted by state)."""
    return await alerts.stat(b, caller, request)


@note_router.post("/create")
async def create_note(request: CreateNoteRequest, caller: CallerDep, b: Backend) -> Answer:
    return await notes.create(b, caller, request)


@note_router.post("/update")
async def update_note(request: UpdateNoteRequest, caller: CallerDep, b: Backend) -> Answer:
    return await notes.update(b, caller, request)


@note_router.post("/delete")
async def delete_note(request: NoteRequest, caller: CallerDep, b: Backend) -> Answer:
    return await notes.delete(b, caller, request)


@note_router.post("/get")
async def get_note(request: GetNoteRequest, caller: CallerDep, b: Backend) -> Answer:
    return await notes.get(b, caller, request)


@note_router.post("/list")
async def list_notes(request: NoteQuery, caller: CallerDep, b: Backend) -> Answer:
    """Notes (e.g. of one alert: `{"alert_id": …}`), newest first."""
    return await notes.list_(b, caller, request)


@note_router.post("/stat")
async def stat_notes(request: NoteStatQuery, caller: CallerDep, b: Backend) -> Answer:
    return await notes.stat(b, caller, request)
