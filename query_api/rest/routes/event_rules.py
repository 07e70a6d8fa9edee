"""`POST /monitoring/v1/event-rule/create | update | change_order | delete | get | list |
stat`: the HTTP face of `query_api.services.event_rules`, with the JSON of Cloudforet's
`event_rule.proto` messages. Confined to the caller's domain as events are: a rule of
another domain answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from query_api.rest.deps import CallerDep
from query_api.services import event_rules
from query_api.services.event_rules import EventRuleStore
from schemas.event_rule import (
    EventRule,
    EventRuleChangeOrder,
    EventRuleCreate,
    EventRuleQuery,
    EventRuleRequest,
    EventRulesInfo,
    EventRuleStatQuery,
    EventRuleUpdate,
    GetEventRuleRequest,
)
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/event-rule", tags=["event-rule"], responses=ERRORS)


def get_store(request: Request) -> EventRuleStore:
    return request.app.state.event_rules


StoreDep = Annotated[EventRuleStore, Depends(get_store)]


@router.post("/create")
async def create(request: EventRuleCreate, caller: CallerDep, store: StoreDep) -> EventRule:
    """A new rule, last in its scope: PROJECT with a project_id, else GLOBAL."""
    return await event_rules.create(store, caller, request)


@router.post("/update")
async def update(request: EventRuleUpdate, caller: CallerDep, store: StoreDep) -> EventRule:
    """Replace the fields given, each whole."""
    return await event_rules.update(store, caller, request)


@router.post("/change_order")
async def change_order(
    request: EventRuleChangeOrder, caller: CallerDep, store: StoreDep
) -> EventRule:
    """Move a rule within its scope; the others are renumbered."""
    return await event_rules.change_order(store, caller, request)


@router.post("/delete")
async def delete(request: EventRuleRequest, caller: CallerDep, store: StoreDep) -> dict[str, Any]:
    await event_rules.delete(store, caller, request)
    return {}


@router.post("/get", response_model=None)
async def get(
    request: GetEventRuleRequest, caller: CallerDep, store: StoreDep
) -> EventRule | dict[str, Any]:
    return await event_rules.get(store, caller, request)  # type: ignore[no-any-return]


@router.post("/list")
async def list_(request: EventRuleQuery, caller: CallerDep, store: StoreDep) -> EventRulesInfo:
    """Rules matching a Query and the exact filters: `{results, total_count}`, in order."""
    return EventRulesInfo.model_validate(await event_rules.list_rules(store, caller, request))


@router.post("/stat")
async def stat(request: EventRuleStatQuery, caller: CallerDep, store: StoreDep) -> dict[str, Any]:
    """`{results, total_count?}` of a StatisticsQuery over the rules (SPEC §6)."""
    return await event_rules.stat(store, caller, request)  # type: ignore[no-any-return]
