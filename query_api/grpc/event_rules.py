"""`spaceone.api.monitoring.v1.EventRule` over gRPC: Cloudforet's service, a thin face of
`query_api.services.event_rules`, as the Event service is of its own.

Requests become the JSON REST receives (validated by the same models), answers the
messages of `event_rule.proto`. cloudforet-api 1.1.1's ConditionsPolicy has no ALWAYS: it
travels as number 3 (Cloudforet 2's value for it), which proto3's open enums carry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pydantic import BaseModel
from spaceone.api.monitoring.v1 import event_rule_pb2, event_rule_pb2_grpc

from query_api.grpc.convert import request_json, stat_struct
from query_api.grpc.event import EventService
from query_api.services import event_rules
from query_api.services.event_rules import EventRuleStore
from schemas.event_rule import (
    EventRuleChangeOrder,
    EventRuleCreate,
    EventRuleQuery,
    EventRuleRequest,
    EventRuleStatQuery,
    EventRuleUpdate,
    GetEventRuleRequest,
)

T = TypeVar("T")
EVENT_RULE_SERVICE = event_rule_pb2.DESCRIPTOR.services_by_name["EventRule"].full_name
ALWAYS_NUMBER = 3


def rule_request(message: Any) -> dict[str, Any]:
    """A request message as REST's JSON, ALWAYS (number 3) by its name."""
    body = request_json(message)
    if body.get("conditions_policy") == ALWAYS_NUMBER:
        body["conditions_policy"] = "ALWAYS"
    return body


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def rule_info(rule: Any) -> event_rule_pb2.EventRuleInfo:
    """EventRuleInfo from a rule (or the fields `only` kept of it)."""
    data = _plain(rule)
    if isinstance(data.get("actions"), dict):  # only the actions the rule takes, as Cloudforet
        data["actions"] = {name: value for name, value in data["actions"].items() if value}
    if data.get("conditions_policy") == "ALWAYS":
        data["conditions_policy"] = ALWAYS_NUMBER
    return json_format.ParseDict(data, event_rule_pb2.EventRuleInfo(), ignore_unknown_fields=True)


class EventRuleService(event_rule_pb2_grpc.EventRuleServicer):
    """The seven methods of Cloudforet's EventRule service, over the app's shared state."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._face = EventService(state)  # authentication and error mapping, shared

    @property
    def _store(self) -> EventRuleStore:
        return self._state.event_rules  # type: ignore[no-any-return]

    async def _run(
        self,
        context: grpc.aio.ServicerContext,
        message: Any,
        model: type[BaseModel],
        work: Callable[[Any, Any], Awaitable[T]],
    ) -> T:
        async def answer() -> T:
            caller = await self._face._caller(context)
            return await work(caller, model.model_validate(rule_request(message)))

        return await self._face._answer(context, answer)

    async def create(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            return rule_info(await event_rules.create(self._store, caller, body))

        return await self._run(context, request, EventRuleCreate, work)

    async def update(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            return rule_info(await event_rules.update(self._store, caller, body))

        return await self._run(context, request, EventRuleUpdate, work)

    async def change_order(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            return rule_info(await event_rules.change_order(self._store, caller, body))

        return await self._run(context, request, EventRuleChangeOrder, work)

    async def delete(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            await event_rules.delete(self._store, caller, body)
            return empty_pb2.Empty()

        return await self._run(context, request, EventRuleRequest, work)

    async def get(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            return rule_info(await event_rules.get(self._store, caller, body))

        return await self._run(context, request, GetEventRuleRequest, work)

    async def list(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work(caller: Any, body: Any) -> Any:
            answer = await event_rules.list_rules(self._store, caller, body)
            return event_rule_pb2.EventRulesInfo(
                results=[rule_info(rule) for rule in answer["results"]],
                total_count=answer["total_count"],
            )

        return await self._run(context, request, EventRuleQuery, work)

    async def stat(self, request: Any, context: grpc.aio.ServicerContext) -> struct_pb2.Struct:
        async def work(caller: Any, body: Any) -> struct_pb2.Struct:
            return stat_struct(await event_rules.stat(self._store, caller, body))

        return await self._run(context, request, EventRuleStatQuery, work)
