"""`spaceone.api.monitoring.v1.EventRule` over gRPC: Cloudforet's service, a thin face of
`query_api.services.event_rules`, as the Event service is of its own.

Requests become the JSON REST receives (validated by the same models), answers the
messages of `event_rule.proto`. cloudforet-api 1.1.1's ConditionsPolicy has no ALWAYS: it
travels as number 3 (Cloudforet 2's value for it), which proto3's open enums carry.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from pydantic import BaseModel
from spaceone.api.monitoring.v1 import event_rule_pb2, event_rule_pb2_grpc

from query_api.grpc.common import Servicer, empty, to_list, unary
from query_api.grpc.convert import request_json, stat_struct
from query_api.services import event_rules
from query_api.services.event_rules import EventRuleStore

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


class EventRuleService(Servicer, event_rule_pb2_grpc.EventRuleServicer):
    """The seven methods of Cloudforet's EventRule service, over the app's shared state."""

    def backend(self) -> EventRuleStore:
        return self._state.event_rules

    create = unary(event_rules.create, rule_info, request=rule_request)
    update = unary(event_rules.update, rule_info, request=rule_request)
    change_order = unary(event_rules.change_order, rule_info, request=rule_request)
    delete = unary(event_rules.delete, empty, request=rule_request)
    get = unary(event_rules.get, rule_info, request=rule_request)
    list = unary(event_rules.list_rules, to_list(event_rule_pb2.EventRulesInfo, rule_info),
                 request=rule_request)  # fmt: skip
    stat = unary(event_rules.stat, stat_struct, request=rule_request)
