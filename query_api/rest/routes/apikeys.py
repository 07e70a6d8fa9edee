"""`POST /monitoring/v1/apikey/whoami`: which domain the calling key reads, or that it is an
admin key that may pick one (the console asks this first)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from query_api.rest.deps import CallerDep
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 503)
}
router = APIRouter(prefix="/monitoring/v1/apikey", tags=["apikey"], responses=ERRORS)


@router.post("/whoami")
async def whoami(caller: CallerDep) -> dict[str, Any]:
    """The calling key: its id, its domain (None for an admin key) and whether it is admin."""
    return {"key_id": caller.key_id, "domain_id": caller.domain_id, "admin": caller.is_admin}
