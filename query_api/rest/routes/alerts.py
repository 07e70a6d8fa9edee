"""`POST /monitoring/v1/alert/list | get`: the HTTP face of `query_api.services.alerts`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from query_api.rest.deps import CallerDep, EsDep, SettingsDep
from query_api.services import alerts
from schemas.alert import AlertQuery, GetAlertRequest
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 503)
}
router = APIRouter(prefix="/monitoring/v1/alert", tags=["alert"], responses=ERRORS)


@router.post("/list")
async def list_(
    request: AlertQuery, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Alerts matching a Query over alert fields: `{results, total_count}`, newest first."""
    return await alerts.list_alerts(es, settings.indices.alerts, caller, request)


@router.post("/get")
async def get(
    request: GetAlertRequest, caller: CallerDep, es: EsDep, settings: SettingsDep
) -> dict[str, Any]:
    """One alert by id; another domain's alert is 404, as one that does not exist."""
    return await alerts.get_alert(es, settings.indices.alerts, caller, request)
