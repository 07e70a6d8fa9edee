"""`POST /monitoring/v1/alert/list | get` and `POST /monitoring/v1/apikey/whoami`: read-only.

Alerts are written by the worker; these routes read them, confined to the caller's
domain as events are. `whoami` tells a client (the console) which domain its key reads,
or that it is an admin key that may pick one.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import NotFoundError
from fastapi import APIRouter

from query_api.alerts import translate_alert_list
from query_api.deps import CallerDep, EsDep, SettingsDep, domain_scope
from query_api.errors import ApiError
from query_api.translate import scoped
from schemas.alert import AlertQuery, GetAlertRequest
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 503)
}
router = APIRouter(prefix="/monitoring/v1/alert", tags=["alert"], responses=ERRORS)
caller_router = APIRouter(prefix="/monitoring/v1/apikey", tags=["apikey"], responses=ERRORS)


@router.post("/list")
async def list_(
    request: AlertQuery, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Alerts matching a Query over alert fields: `{results, total_count}`, newest first."""
    domain = domain_scope(caller, request.domain_id)
    exact = {"alert_id": request.alert_id, "event_key": request.event_key,
             "state": request.state, "project_id": request.project_id}  # fmt: skip
    search = translate_alert_list(request.query, exact)
    try:
        body = await es.search(
            index=settings.indices.alerts,
            query=scoped(search.query, domain),
            sort=list(search.sort),
            from_=search.offset,
            size=0 if search.count_only else search.size,
            track_total_hits=True,
        )
    except NotFoundError:  # no worker has written an alert yet
        return {"results": [], "total_count": 0}
    hits = body["hits"]
    return {"results": [hit["_source"] for hit in hits["hits"]],
            "total_count": hits["total"]["value"]}  # fmt: skip


@router.post("/get")
async def get(
    request: GetAlertRequest, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """One alert by id; another domain's alert is 404, as one that does not exist."""
    domain = domain_scope(caller, request.domain_id)
    query = scoped({"term": {"alert_id": request.alert_id}}, domain)
    try:
        body = await es.search(index=settings.indices.alerts, query=query, size=1)
    except NotFoundError:
        body = {"hits": {"hits": []}}
    if not body["hits"]["hits"]:
        raise ApiError(404, "ERROR_NOT_FOUND", f"alert {request.alert_id!r} not found")
    return body["hits"]["hits"][0]["_source"]


@caller_router.post("/whoami")
async def whoami(caller: CallerDep) -> dict[str, Any]:
    """The calling key: its id, its domain (None for an admin key) and whether it is admin."""
    return {"key_id": caller.key_id, "domain_id": caller.domain_id, "admin": caller.is_admin}
