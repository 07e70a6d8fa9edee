"""Cloudforet's protobuf messages <-> the JSON shapes the Event API's core works on. Pure.

Requests become the dicts an HTTP client would have sent, so they are validated by the
same models; answers are built from the same dicts REST serializes. Protobuf's `Struct`
and `Value` carry every number as a double: whole numbers come back as ints, so a
payload sent over gRPC is the same JSON as over HTTP (SPEC §7 hashes `1`, never `1.0`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from spaceone.api.monitoring.v1 import event_pb2

# Doubles represent every integer up to 2**53 exactly; beyond, a double was never an int.
EXACT_INT_LIMIT = 2**53

EVENT_STRINGS = (
    "event_id", "event_key", "event_type", "title", "description", "severity", "rule",
    "provider", "account", "image_url", "alert_id", "webhook_id", "project_id", "domain_id",
    "created_at", "occurred_at",
)  # fmt: skip
RESOURCE_STRINGS = ("resource_id", "resource_type", "name")


class NotJson(ValueError):
    """A Struct number JSON cannot carry (NaN, an infinity)."""


def whole_numbers(value: Any) -> Any:
    """`value` with every whole double turned into an int, through lists and objects."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(f"{value} is not a JSON number")
        if value.is_integer() and abs(value) < EXACT_INT_LIMIT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def request_json(message: Message) -> dict[str, Any]:
    """A request message as the JSON body REST would receive: proto field names, unset and
    default fields left out (proto3 cannot tell them apart), whole numbers as ints."""
    return whole_numbers(json_format.MessageToDict(message, preserving_proto_field_name=True))


def struct_json(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct (e.g. CreateEventRequest.data) as the JSON object it stands for."""
    return whole_numbers(json_format.MessageToDict(struct))


def event_info(event: Mapping[str, Any]) -> event_pb2.EventInfo:
    """An EventInfo message from a stored event (or the fields `only` kept of it)."""
    message = event_pb2.EventInfo()
    fill_event_info(message, event)
    return message


def fill_event_info(message: event_pb2.EventInfo, event: Mapping[str, Any]) -> None:
    for name in EVENT_STRINGS:
        value = event.get(name)
        if value is not None:
            setattr(message, name, str(value))
    resource = event.get("resource")
    if isinstance(resource, Mapping):
        for name in RESOURCE_STRINGS:
            value = resource.get(name)
            if value is not None:
                setattr(message.resource, name, str(value))
    for name in ("raw_data", "additional_info"):
        value = event.get(name)
        if isinstance(value, Mapping):
            getattr(message, name).update(value)


def events_info(results: Iterable[Mapping[str, Any]], total_count: int) -> event_pb2.EventsInfo:
    """EventsInfo from list's `{results, total_count}`."""
    message = event_pb2.EventsInfo(total_count=total_count)
    for event in results:
        fill_event_info(message.results.add(), event)
    return message


def stat_struct(answer: Mapping[str, Any]) -> struct_pb2.Struct:
    """stat's answer, `{results, total_count?}`, as the Struct the seed's `stat` returns."""
    struct = struct_pb2.Struct()
    struct.update(answer)
    return struct
