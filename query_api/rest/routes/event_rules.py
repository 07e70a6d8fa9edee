"""`POST /monitoring/v1/event-rule/create | update | change_order | delete | get | list |
stat`: the HTTP face of `query_api.services.event_rules`, with the JSON of Cloudforet's
`event_rule.proto` messages; each route is the service operation
(`query_api.rest.operations`). Confined to the caller's domain as events are: a rule of
another domain answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from query_api.rest.operations import post
from query_api.services import event_rules
from query_api.services.event_rules import EventRuleStore
from schemas.event_rule import EventRule, EventRulesInfo
from schemas.messages import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 429, 503)
}
router = APIRouter(prefix="/monitoring/v1/event-rule", tags=["event-rule"], responses=ERRORS)


def get_store(request: Request) -> EventRuleStore:
    return request.app.state.event_rules


StoreDep = Annotated[EventRuleStore, Depends(get_store)]


post(router, "/create", event_rules.create, StoreDep, returns=EventRule)
post(router, "/update", event_rules.update, StoreDep, returns=EventRule)
post(router, "/change_order", event_rules.change_order, StoreDep, returns=EventRule)
post(router, "/delete", event_rules.delete, StoreDep, answer=lambda _: {})
# A rule, or the fields `only` kept of it: answered as it is.
post(router, "/get", event_rules.get, StoreDep, returns=EventRule | dict[str, Any],
     response_model=None)  # fmt: skip
post(router, "/list", event_rules.list_rules, StoreDep, name="list_", returns=EventRulesInfo,
     answer=EventRulesInfo.model_validate)  # fmt: skip
post(router, "/stat", event_rules.stat, StoreDep)
