"""Notes on alerts (Cloudforet monitoring v1 `Note`): the one implementation behind REST and
gRPC.

A note belongs to an alert of the caller's domain and takes the alert's project; it is
written by the API alone (it is not alert state, so no worker orders it) and made
searchable before the answer (`refresh=wait_for`), so a list right after shows it.
Deleting an alert deletes its notes (`delete_of_alerts`), as Cloudforet's cascade does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from elasticsearch import NotFoundError

from query_api.query.translate import NOTES, scoped, source_includes
from query_api.services.apikeys import domain_scope
from query_api.services.events import list_events, run_stat
from schemas.alert import (
    CreateNoteRequest,
    GetNoteRequest,
    NoteQuery,
    NoteRequest,
    NoteStatQuery,
    UpdateNoteRequest,
)
from schemas.apikey import Caller
from schemas.errors import ApiError

if TYPE_CHECKING:
    from query_api.services.alerts import AlertBackend

MISSING_OK: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


def _index(b: AlertBackend) -> str:
    return b.settings.indices.notes


async def _note(b: AlertBackend, note_id: str, domain: str | None) -> dict[str, Any]:
    try:
        doc = (await b.es.get(index=_index(b), id=note_id))["_source"]
    except NotFoundError:
        doc = None
    if doc is None or (domain is not None and doc.get("domain_id") != domain):
        raise ApiError(404, "ERROR_NOT_FOUND", f"note {note_id!r} not found")
    return dict(doc)


async def create(b: AlertBackend, caller: Caller, request: CreateNoteRequest) -> dict[str, Any]:
    """A note on an alert of the caller's domain; created_by is the caller's key id."""
    from query_api.services.alerts import new_id, now_text, stored

    domain = domain_scope(caller, request.domain_id)
    alert = await stored(b, request.alert_id, domain)
    note = {
        "note_id": new_id("note"), "alert_id": alert["alert_id"], "note": request.note,
        "created_by": caller.key_id, "project_id": alert["project_id"],
        "domain_id": alert["domain_id"], "created_at": now_text(),
    }  # fmt: skip
    await b.es.create(index=_index(b), id=note["note_id"], document=note, refresh="wait_for")
    return note


async def update(b: AlertBackend, caller: Caller, request: UpdateNoteRequest) -> dict[str, Any]:
    note = await _note(b, request.note_id, domain_scope(caller, request.domain_id))
    if request.note is not None:
        note["note"] = request.note
        await b.es.update(index=_index(b), id=request.note_id, doc={"note": request.note},
                          refresh="wait_for")  # fmt: skip
    return note


async def delete(b: AlertBackend, caller: Caller, request: NoteRequest) -> dict[str, Any]:
    await _note(b, request.note_id, domain_scope(caller, request.domain_id))
    await b.es.options(ignore_status=404).delete(index=_index(b), id=request.note_id,
                                                 refresh="wait_for")  # fmt: skip
    return {}


async def get(b: AlertBackend, caller: Caller, request: GetNoteRequest) -> dict[str, Any]:
    domain = domain_scope(caller, request.domain_id)
    includes = source_includes(request.only)
    response = await b.es.search(
        index=_index(b), query=scoped({"term": {"note_id": request.note_id}}, domain), size=1,
        **({"source_includes": list(includes)} if includes else {}), **MISSING_OK,
    )  # fmt: skip
    hits = response["hits"]["hits"]
    if not hits:
        raise ApiError(404, "ERROR_NOT_FOUND", f"note {request.note_id!r} not found")
    return dict(hits[0].get("_source", {}))


async def list_(b: AlertBackend, caller: Caller, request: NoteQuery) -> dict[str, Any]:
    """NotesInfo: `{results, total_count}`, newest first."""
    domain = domain_scope(caller, request.domain_id)
    results, total = await list_events(
        b.es, _index(b), request.query, request.exact_filters(), domain, searchable=NOTES
    )
    return {"results": results, "total_count": total}


async def stat(b: AlertBackend, caller: Caller, request: NoteStatQuery) -> dict[str, Any]:
    domain = domain_scope(caller, request.domain_id)
    return await run_stat(b.es, _index(b), request.query, domain, searchable=NOTES)


PAGE = 1000


async def delete_of_alerts(b: AlertBackend, alert_ids: list[str]) -> None:
    """Delete every note of these alerts (an alert deleted or merged away): found, then
    deleted in bulk (no delete-by-query: a minimal node lacks it)."""
    if not alert_ids:
        return
    query = {"terms": {"alert_id": alert_ids}}
    while True:
        await b.es.indices.refresh(index=_index(b), **MISSING_OK)
        response = await b.es.search(index=_index(b), query=query, size=PAGE, source=False,
                                     **MISSING_OK)  # fmt: skip
        hits = response["hits"]["hits"]
        if hits:
            await b.es.bulk(operations=[{"delete": {"_index": h["_index"], "_id": h["_id"]}}
                                        for h in hits], refresh=True)  # fmt: skip
        if len(hits) < PAGE:
            return
