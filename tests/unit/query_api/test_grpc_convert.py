"""The gRPC face's pure parts: message <-> JSON conversions, status mapping, API key metadata."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, json_format, struct_pb2
from spaceone.api.core.v1 import query_pb2
from spaceone.api.monitoring.v1 import event_pb2

from ingest.parsers.grafana import parse as parse_grafana
from query_api.grpc.common import api_key, grpc_status
from query_api.grpc.convert import (
    NotJson,
    event_info,
    events_info,
    request_json,
    stat_struct,
    struct_json,
    whole_numbers,
)
from query_api.rest.errors import ApiError
from schemas.messages import EventQuery, EventStatQuery, GetEventRequest


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, 1),
        (-3.0, -3),
        (0.5, 0.5),
        (2.0**53 - 1, 2**53 - 1),
        (2.0**60, 2.0**60),  # beyond doubles' exact integers: left a double
        ({"a": [1.0, 2.5, {"b": 7.0}], "s": "1.0", "t": True, "n": None},
         {"a": [1, 2.5, {"b": 7}], "s": "1.0", "t": True, "n": None}),
    ],
)  # fmt: skip
def test_whole_numbers(value: Any, expected: Any) -> None:
    got = whole_numbers(value)
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)  # ints print without ".0"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]])
def test_non_json_numbers_are_refused(value: Any) -> None:
    with pytest.raises(NotJson):
        whole_numbers(value)


def test_struct_data_hashes_like_the_same_json_over_http() -> None:
    """SPEC §7: md5 of `dashboardId:panelId:ruleId:orgId` must read `1:2:3:4`, never `1.0:…`."""
    payload = {
        "dashboardId": 1,
        "panelId": 2,
        "ruleId": 3,
        "orgId": 4,
        "state": "alerting",
        "title": "[Alerting] disk",
        "ruleName": "disk",
        "evalMatches": [{"value": 97.5}],
    }
    struct = struct_pb2.Struct()
    struct.update(payload)
    over_grpc = struct_json(struct)
    # A Struct is a map: the same JSON, in whatever key order the map gives.
    assert json.dumps(over_grpc, sort_keys=True) == json.dumps(payload, sort_keys=True)
    (event,) = parse_grafana(over_grpc, {})
    assert event.event_key == hashlib.md5(b"1:2:3:4").hexdigest()
    assert event.event_key == parse_grafana(payload, {})[0].event_key


def test_requests_become_the_json_rest_receives() -> None:
    body = {
        "query": {
            "filter": [{"k": "additional_info.count", "v": 5, "o": "gt"},
                       {"key": "severity", "value": ["CRITICAL", "ERROR"], "operator": "in"},
                       {"k": "x", "v": None, "o": "eq"}],
            "sort": {"keys": [{"key": "created_at", "desc": True}]},
            "page": {"start": 2, "limit": 10},
            "only": ["event_id", "resource.name"],
            "keyword": "disk",
        },
        "severity": "CRITICAL",
        "domain_id": "domain-1",
    }  # fmt: skip
    message = json_format.ParseDict(body, event_pb2.EventQuery())
    got = request_json(message)
    assert got == body
    assert isinstance(got["query"]["filter"][0]["v"], int)
    assert EventQuery.model_validate(got).query.page.start == 2


def test_unset_fields_are_left_out_as_rest_defaults() -> None:
    assert request_json(event_pb2.EventQuery()) == {}
    assert EventQuery.model_validate(request_json(event_pb2.EventQuery())) == EventQuery()
    got = request_json(event_pb2.GetEventRequest(event_id="event-1"))
    assert got == {"event_id": "event-1"}
    assert GetEventRequest.model_validate(got).only is None


def test_stat_request_keeps_every_stage() -> None:
    body = {
        "query": {
            "filter": [{"k": "provider", "v": "aws", "o": "eq"}],
            "aggregate": [
                {"group": {"keys": [{"key": "created_at", "name": "day", "date_format": "day"}],
                           "fields": [{"operator": "count", "name": "n"}]}},
                {"sort": {"key": "n", "desc": True}},
                {"limit": 3},
                {"count": {"name": "groups"}},
            ],
            "page": {"limit": 2},
        },
        "domain_id": "domain-1",
    }  # fmt: skip
    got = request_json(json_format.ParseDict(body, event_pb2.EventStatQuery()))
    assert got == body
    stages = EventStatQuery.model_validate(got).query.aggregate
    assert [stage.limit for stage in stages] == [None, None, 3, None]


STORED = {
    "event_id": "event-0123456789ab", "event_key": "k", "event_type": "ALERT", "title": "t",
    "description": "", "severity": "CRITICAL", "rule": "r",
    "resource": {"resource_id": "i-1", "resource_type": "AWS/EC2", "name": None},
    "provider": "aws", "account": "123", "image_url": "",
    "raw_data": {"a": [1, 2.5, None, {"b": True}], "s": "x"},
    "additional_info": {"env": "prod"}, "alert_id": None, "webhook_id": "webhook-1",
    "project_id": "project-1", "domain_id": "domain-1",
    "created_at": "2024-05-01T00:00:00.000Z", "occurred_at": "",
}  # fmt: skip


def test_event_info_carries_every_field() -> None:
    message = event_info(STORED)
    expected = json_format.ParseDict(STORED, event_pb2.EventInfo())
    assert message == expected
    assert message.resource.resource_id == "i-1"
    assert json_format.MessageToDict(message.raw_data) == {"a": [1, 2.5, None, {"b": True}],
                                                           "s": "x"}  # fmt: skip


def test_event_info_of_only_some_fields() -> None:
    message = event_info({"event_id": "event-1", "resource": {"name": "web-1"}})
    assert json_format.MessageToDict(message, preserving_proto_field_name=True) == {
        "event_id": "event-1",
        "resource": {"name": "web-1"},
    }


def test_events_info_and_stat_struct() -> None:
    message = events_info([STORED, {"event_id": "event-2"}], 42)
    assert message.total_count == 42
    assert [e.event_id for e in message.results] == ["event-0123456789ab", "event-2"]
    answer = {"results": [{"severity": "CRITICAL", "n": 12, "providers": ["aws"], "x": None}],
              "total_count": 1}  # fmt: skip
    struct = stat_struct(answer)
    assert whole_numbers(json_format.MessageToDict(struct)) == answer


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "ERROR_INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT),
        (400, "ERROR_OPERATOR_VALUE_TYPE", grpc.StatusCode.INVALID_ARGUMENT),
        (400, "ERROR_WEBHOOK_STATE_DISABLED", grpc.StatusCode.FAILED_PRECONDITION),
        (401, "ERROR_AUTHENTICATE_FAILURE", grpc.StatusCode.UNAUTHENTICATED),
        (403, "ERROR_PERMISSION_DENIED", grpc.StatusCode.PERMISSION_DENIED),
        (404, "ERROR_NOT_FOUND", grpc.StatusCode.NOT_FOUND),
        (413, "ERROR_REQUEST_TOO_LARGE", grpc.StatusCode.RESOURCE_EXHAUSTED),
        (503, "ERROR_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
        (502, "ERROR_DB", grpc.StatusCode.INTERNAL),
        (500, "ERROR_INTERNAL", grpc.StatusCode.INTERNAL),
    ],
)
def test_grpc_status(status: int, code: str, expected: grpc.StatusCode) -> None:
    assert grpc_status(ApiError(status, code, "m")) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([("token", "ep_key")], "ep_key"),
        ([("token", "  ep_key ")], "ep_key"),
        ([("authorization", "Bearer ep_key")], "ep_key"),
        ([("authorization", "bearer ep_key")], "ep_key"),
        ([("authorization", "Basic dXNlcjpwYXNz")], ""),
        ([("authorization", "Bearer")], ""),
        ([("token", ""), ("authorization", "Bearer ep_b")], "ep_b"),
        ([("token-bin", b"\x00")], ""),
        ([], ""),
        (None, ""),
    ],
)
def test_api_key_from_metadata(metadata: Any, expected: str) -> None:
    assert api_key(metadata) == expected


def test_the_protos_are_cloudforets() -> None:
    """File paths, packages, numbers and types the issue names, as Cloudforet 1.x publishes."""
    assert event_pb2.DESCRIPTOR.name == "spaceone/api/monitoring/v1/event.proto"
    assert event_pb2.DESCRIPTOR.package == "spaceone.api.monitoring.v1"
    assert query_pb2.DESCRIPTOR.name == "spaceone/api/core/v1/query.proto"
    proto = descriptor_pb2.FileDescriptorProto()
    event_pb2.DESCRIPTOR.CopyToProto(proto)
    fields = {m.name: {f.name: f.number for f in m.field} for m in proto.message_type}
    assert fields["EventInfo"]["raw_data"] == 21 and fields["EventInfo"]["occurred_at"] == 42
    assert fields["EventQuery"]["alert_id"] == 11 and fields["EventQuery"]["domain_id"] == 14
    (service,) = proto.service
    assert service.name == "Event"
    assert {m.name: (m.input_type, m.output_type) for m in service.method} == {
        "create": (".spaceone.api.monitoring.v1.CreateEventRequest", ".google.protobuf.Empty"),
        "get": (".spaceone.api.monitoring.v1.GetEventRequest",
                ".spaceone.api.monitoring.v1.EventInfo"),
        "list": (".spaceone.api.monitoring.v1.EventQuery",
                 ".spaceone.api.monitoring.v1.EventsInfo"),
        "stat": (".spaceone.api.monitoring.v1.EventStatQuery", ".google.protobuf.Struct"),
    }  # fmt: skip
