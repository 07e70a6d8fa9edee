"""The Event API over gRPC against the real engines: the REST answers, auth, tenancy, create,
reflection and health.

The dataset of `test_query_api_http` (60 events in `domain-a` and `domain-b`) is written
into uniquely named indices; the app runs in-process (lifespan included) with its gRPC
server on a free port, and a real `eventpipe worker` process indexes what `create` sends.
Two clients speak to it: one with Cloudforet's compiled stubs (grpc.aio), and one that
knows nothing but server reflection (its own descriptor pool built from
`ProtoReflectionDescriptorDatabase`, requests built with `json_format.ParseDict`). Every
answer is compared with REST's answer to the same request, both read as the seed's message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    struct_pb2,
)
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from spaceone.api.monitoring.v1 import event_pb2, event_pb2_grpc

from query_api.grpc.server import GrpcServer, start_grpc_server
from query_api.rest.app import create_app
from schemas.index import events_index_for, events_template
from schemas.settings import Settings
from tests.integration.cloudforet import reflected_services
from tests.integration.pipeline import _remove, create_webhook, pipeline_settings, served_pipeline
from tests.integration.test_query_api_http import (
    EVENTS,
    IDS,
    OTHER,
    A,
    B,
    condition,
    list_body,
)

SERVICE = "spaceone.api.monitoring.v1.Event"
ALERT_SERVICES = ["spaceone.api.monitoring.v1.Alert", "spaceone.api.monitoring.v1.Note"]
REST = {
    "create": "/monitoring/v1/event/create",
    "get": "/monitoring/v1/event/get",
    "list": "/monitoring/v1/event/list",
    "stat": "/monitoring/v1/event/stat",
}
REQUESTS: dict[str, type[Message]] = {
    "create": event_pb2.CreateEventRequest,
    "get": event_pb2.GetEventRequest,
    "list": event_pb2.EventQuery,
    "stat": event_pb2.EventStatQuery,
}
ANSWERS: dict[str, type[Message]] = {
    "get": event_pb2.EventInfo,
    "list": event_pb2.EventsInfo,
    "stat": struct_pb2.Struct,
}
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Service:
    settings: Settings
    http: httpx.AsyncClient
    grpc: GrpcServer
    channel: grpc.aio.Channel
    stub: event_pb2_grpc.EventStub
    keys: dict[str, str]  # "domain-a" | "domain-b" | "admin" -> plain key
    webhooks: dict[str, dict[str, Any]]  # plugin id -> {webhook_id, access_key, ...} (domain-a)

    async def rest(self, method: str, who: str | None, body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        for _ in range(20):
            response = await self.http.post(REST[method], headers=headers, json=body)
            if response.status_code != 503:  # 503: retry, as the API asks
                return response
            await asyncio.sleep(0.25)
        return response

    async def call(
        self, method: str, body: dict[str, Any], metadata: list[tuple[str, str]] | None = None
    ) -> Message:
        request = json_format.ParseDict(body, REQUESTS[method]())
        return await getattr(self.stub, method)(request, metadata=metadata, timeout=60)

    async def call_as(self, method: str, who: str, body: dict[str, Any]) -> Message:
        return await self.call(method, body, [("token", self.keys[who])])


def seed_message(method: str, answer: Any) -> dict[str, Any]:
    """A JSON answer (REST's) read as the seed's message, back as canonical proto JSON."""
    message = json_format.ParseDict(answer, ANSWERS[method]())
    return as_json(message)


def as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


@pytest.fixture(scope="module")
async def svc(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    ours = pipeline_settings(settings, f"test-grpc-{uuid.uuid4().hex[:12]}",
                             max_body_bytes=MAX_BODY_BYTES)  # fmt: skip

    async def seed(es: AsyncElasticsearch) -> None:
        prefix = ours.indices.events
        await es.indices.put_index_template(name=prefix, **events_template(prefix))
        actions = (
            {
                "_index": events_index_for(prefix, datetime.fromisoformat(e["created_at"])),
                "_id": e["event_id"],
                "_source": e,
            }
            for e in EVENTS
        )
        await async_bulk(es, actions, refresh="wait_for")

    log = tmp_path_factory.mktemp("grpc") / "worker.log"
    async with (
        served_pipeline(ours, log, prepare=seed) as served,
        grpc.aio.insecure_channel(served.grpc.address) as channel,
    ):
        store = served.app.state.keys
        keys = {
            A: (await store.create(A))[0],
            B: (await store.create(B))[0],
            "admin": (await store.create(None))[0],
        }
        service = Service(ours, served.http, served.grpc, channel,
                          event_pb2_grpc.EventStub(channel), keys, {})  # fmt: skip
        for plugin in ("standard", "grafana"):
            service.webhooks[plugin] = await create_webhook(
                served.http, keys["admin"], A, plugin_id=plugin, project_id="project-grpc"
            )
        await served.worker.start()
        yield service


async def wait_for_events(svc: Service, event_key: str, count: int) -> list[dict[str, Any]]:
    """The events with `event_key` (REST list, domain-a) once `count` of them are indexed."""
    body = {"query": {"filter": [{"k": "event_key", "v": event_key, "o": "eq"}],
                      "sort": {"key": "created_at"}}}  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        response = await svc.rest("list", A, body)
        assert response.status_code == 200, response.text
        if response.json()["total_count"] >= count:
            return response.json()["results"]
        await asyncio.sleep(0.5)
    raise AssertionError(f"{count} event(s) with key {event_key!r} not indexed within 90 s")


def flow_requests(event: dict[str, Any], event_key: str) -> list[tuple[str, dict[str, Any]]]:
    """get → list → stat requests about one created event, and a wider list and stat."""
    by_key = [{"k": "event_key", "v": event_key, "o": "eq"}]
    requests = [
        ("get", {"event_id": event["event_id"]}),
        ("get", {"event_id": event["event_id"], "only": ["title", "resource.name"]}),
        ("list", {"query": {"filter": by_key}}),
        ("list", {"query": {"sort": {"key": "created_at", "desc": True}, "page": {"limit": 7},
                            "filter": [{"k": "severity", "v": ["CRITICAL", "ERROR"], "o": "in"}]},
                  "domain_id": A}),
        ("stat", {"query": {"filter": by_key, "aggregate": [{"count": {"name": "n"}}]}}),
        ("stat", {"query": {"aggregate": [
            {"group": {"keys": [{"key": "severity", "name": "severity"},
                                {"key": "created_at", "name": "day", "date_format": "day"}],
                       "fields": [{"operator": "count", "name": "total"},
                                  {"operator": "add_to_set", "key": "provider",
                                   "name": "providers"}]}},
            {"sort": {"key": "total", "desc": True}}, {"limit": 10}],
            "page": {"start": 1, "limit": 5}}}),
    ]  # fmt: skip
    return requests


async def test_compiled_stubs_create_get_list_stat_as_rest(svc: Service) -> None:
    hook = svc.webhooks["standard"]
    key = f"grpc-stubs-{uuid.uuid4().hex[:8]}"
    data = {"event_key": key, "title": "Disk full on web-9", "severity": "CRITICAL",
            "resource": {"resource_id": "i-9", "name": "web-9"},
            "additional_info": {"env": "prod"}}  # fmt: skip
    answer = await svc.call("create", {**hook_auth(hook), "data": data})
    assert answer.DESCRIPTOR.full_name == "google.protobuf.Empty"
    (event,) = await wait_for_events(svc, key, 1)
    assert event["title"] == "Disk full on web-9" and event["domain_id"] == A
    for method, body in flow_requests(event, key):
        rest = await svc.rest(method, A, body)
        assert rest.status_code == 200, (method, body, rest.text)
        got = await svc.call_as(method, A, body)
        assert as_json(got) == seed_message(method, rest.json()), (method, body)


def reflection_client(address: str, key: str, calls: list[tuple[str, dict[str, Any]]]) -> list:
    """A client knowing only reflection: descriptors from the server, messages from JSON.
    Blocking (grpcio's reflection database is synchronous): run it in a thread."""
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName(SERVICE)
        answers = []
        for method_name, body in calls:
            method = service.methods_by_name[method_name]
            request_class = message_factory.GetMessageClass(method.input_type)
            answer_class = message_factory.GetMessageClass(method.output_type)
            call = channel.unary_unary(
                f"/{service.full_name}/{method.name}",
                request_serializer=request_class.SerializeToString,
                response_deserializer=answer_class.FromString,
            )
            answer = call(json_format.ParseDict(body, request_class()),
                          metadata=[("token", key)], timeout=60)  # fmt: skip
            answers.append(as_json(answer))
        return answers


async def test_reflection_only_client_create_get_list_stat_as_rest(svc: Service) -> None:
    hook = svc.webhooks["standard"]
    key = f"grpc-reflect-{uuid.uuid4().hex[:8]}"
    data = {"event_key": key, "title": "CPU high on db-3", "severity": "WARNING",
            "additional_info": {"team": "db"}}  # fmt: skip
    (created,) = await asyncio.to_thread(
        reflection_client, svc.grpc.address, svc.keys[A],
        [("create", {**hook_auth(hook), "data": data})],
    )  # fmt: skip
    assert created == {}
    (event,) = await wait_for_events(svc, key, 1)
    calls = flow_requests(event, key)
    got = await asyncio.to_thread(reflection_client, svc.grpc.address, svc.keys[A], calls)
    for (method, body), answer in zip(calls, got, strict=True):
        rest = await svc.rest(method, A, body)
        assert rest.status_code == 200, (method, body, rest.text)
        assert answer == seed_message(method, rest.json()), (method, body)


def hook_auth(hook: dict[str, Any]) -> dict[str, str]:
    return {"webhook_id": hook["webhook_id"], "access_key": hook["access_key"]}


async def test_create_gives_the_same_events_as_the_same_json_over_http(svc: Service) -> None:
    """Struct numbers are doubles: the md5 event_key of Grafana's legacy alert must still
    hash `1:2:3:4` (SPEC §7), and raw_data must be the same JSON as over HTTP."""
    hook = svc.webhooks["grafana"]
    dashboard = int(uuid.uuid4().int % 10**9)
    data = {"dashboardId": dashboard, "panelId": 2, "ruleId": 3, "orgId": 1,
            "state": "alerting", "title": "[Alerting] disk almost full", "ruleName": "disk",
            "message": "97.5% used", "evalMatches": [{"metric": "used", "value": 97.5,
                                                      "tags": None}]}  # fmt: skip
    response = await svc.rest("create", None, {**hook_auth(hook), "data": data})
    assert response.status_code == 200, response.text
    await svc.call("create", {**hook_auth(hook), "data": data})
    key = hashlib.md5(f"{dashboard}:2:3:1".encode()).hexdigest()
    over_http, over_grpc = await wait_for_events(svc, key, 2)

    def same(event: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in event.items() if k not in ("event_id", "created_at")}

    assert same(over_grpc) == same(over_http)
    # The same JSON text, not only equal numbers: 1 is never stored as 1.0.
    assert json.dumps(over_grpc["raw_data"], sort_keys=True) == json.dumps(data, sort_keys=True)
    assert json.dumps(same(over_grpc), sort_keys=True) == json.dumps(
        same(over_http), sort_keys=True
    )


async def test_create_errors_as_rest(svc: Service) -> None:
    hook = svc.webhooks["standard"]
    cases = [
        ({"webhook_id": "webhook-000000000000", "access_key": "x", "data": {"event_key": "k"}},
         grpc.StatusCode.NOT_FOUND),
        ({"webhook_id": hook["webhook_id"], "access_key": "wrong", "data": {"event_key": "k"}},
         grpc.StatusCode.PERMISSION_DENIED),
        ({**hook_auth(hook), "data": {"event_key": "k", "blob": "x" * (MAX_BODY_BYTES + 1)}},
         grpc.StatusCode.RESOURCE_EXHAUSTED),
    ]  # fmt: skip
    for body, status in cases:
        rest = await svc.rest("create", None, body)
        error = rest.json()["error"]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await svc.call("create", body)
        assert raised.value.code() == status, raised.value
        assert raised.value.details() == f"{error['code']}: {error['message']}"
        assert ("error-code", error["code"]) in tuple(raised.value.trailing_metadata() or ())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await svc.call("create", hook_auth(hook))  # no data
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- random queries: REST and gRPC agree ---------------------------------------------------

STAT_KEYS = ["severity", "provider", "event_type", "project_id", "resource.name",
             "additional_info.env"]  # fmt: skip


@st.composite
def stat_body(draw: st.DrawFn) -> dict[str, Any]:
    query: dict[str, Any] = {
        "filter": draw(st.lists(condition(), max_size=2)),
        "filter_or": draw(st.lists(condition(), max_size=2)),
    }
    shape = draw(st.sampled_from(["group", "group", "distinct", "count"]))
    if shape == "distinct":
        query["distinct"] = draw(st.sampled_from(STAT_KEYS))
    elif shape == "count":
        query["aggregate"] = [{"count": {"name": "n"}}]
    else:
        keys = draw(st.lists(st.sampled_from(STAT_KEYS), min_size=0, max_size=2, unique=True))
        group_keys: list[dict[str, Any]] = [{"key": k, "name": k.replace(".", "_")} for k in keys]
        if draw(st.booleans()):
            fmt = draw(st.sampled_from(["day", "month", "%Y-%m-%d %H"]))
            group_keys.append({"key": "created_at", "name": "when", "date_format": fmt})
        fields = [{"operator": "count", "name": "n"}]
        if draw(st.booleans()):
            fields.append({"operator": "add_to_set", "key": "provider", "name": "providers"})
        stages: list[dict[str, Any]] = [{"group": {"keys": group_keys, "fields": fields}}]
        if draw(st.booleans()):
            stages.append({"sort": {"key": "n", "desc": draw(st.booleans())}})
        if draw(st.booleans()):
            stages.append({"skip": draw(st.integers(1, 3))})
        if draw(st.booleans()):
            stages.append({"limit": draw(st.integers(1, 5))})
        if draw(st.booleans()):  # a pipeline stage after the group (SPEC §6)
            stages.append(draw(st.sampled_from([
                {"project": {"fields": [{"key": "n", "name": "count"}], "exclude_keys": True}},
                {"project": {"fields": [{"key": "n", "name": "count"}]}},
                {"group": {"keys": [], "fields": [{"operator": "sum", "key": "n", "name": "all"},
                                                  {"operator": "count", "name": "groups"}]}},
                {"count": {"name": "groups"}},
            ])))  # fmt: skip
        query["aggregate"] = stages
    if draw(st.booleans()):
        query["page"] = {"start": draw(st.integers(1, 3)), "limit": draw(st.integers(0, 4))}
    if draw(st.booleans()):
        query["keyword"] = draw(st.sampled_from(["disk", "cpu pod", "domain-a"]))
    body: dict[str, Any] = {"query": query}
    if draw(st.booleans()):
        body["domain_id"] = B
    return body


async def assert_same_answer(svc: Service, method: str, who: str, body: dict[str, Any]) -> None:
    rest = await svc.rest(method, who, body)
    try:
        got = await svc.call_as(method, who, body)
    except grpc.aio.AioRpcError as error:
        assert rest.status_code != 200, (body, rest.text, error.details())
        expected = rest.json()["error"]
        assert error.details() == f"{expected['code']}: {expected['message']}", body
        return
    assert rest.status_code == 200, (body, rest.text)
    assert as_json(got) == seed_message(method, rest.json()), body


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=list_body(), who=st.sampled_from([B, "admin"]))
async def test_random_list_queries_answer_as_rest(svc: Service, body: dict[str, Any],
                                                  who: str) -> None:  # fmt: skip
    await assert_same_answer(svc, "list", who, body)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=stat_body(), who=st.sampled_from([B, "admin"]))
async def test_random_stat_queries_answer_as_rest(svc: Service, body: dict[str, Any],
                                                  who: str) -> None:  # fmt: skip
    await assert_same_answer(svc, "stat", who, body)


@pytest.mark.parametrize(
    "body",
    [
        {"query": {"filter": [{"k": "severity", "v": ["CRITICAL"], "o": "eq"}]}},
        {"query": {"filter": [{"k": "severity", "v": "CRITICAL", "o": "in"}]}},
        {"query": {"filter": [{"k": "severity", "v": "CRITICAL", "o": "like"}]}},
        {"query": {"filter": [{"k": "title", "v": "(unclosed", "o": "regex"}]}},
        {"query": {"filter": [{"k": "title", "v": "yes", "o": "exists"}]}},
        {"query": {"only": ["title.*"]}},
    ],
)
async def test_query_errors_as_rest(svc: Service, body: dict[str, Any]) -> None:
    await assert_same_answer(svc, "list", A, body)
    stat = {"query": {**body["query"], "aggregate": [{"count": {"name": "n"}}]}}
    stat["query"].pop("only", None)
    await assert_same_answer(svc, "stat", A, stat)


async def test_malformed_requests_as_rest(svc: Service) -> None:
    for method, body in [
        ("get", {}),
        ("stat", {}),
        ("stat", {"query": {}}),
        ("stat", {"query": {"aggregate": [{"group": {"keys": [{"key": "severity"}],
                  "fields": [{"operator": "median", "key": "x", "name": "m"}]}}]}}),
    ]:  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await svc.call_as(method, A, body)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, body
        await assert_same_answer(svc, method, A, body)


# ---- auth and tenancy ---------------------------------------------------------------------

CALLS = [("get", {"event_id": "event-000000000000"}), ("list", {}),
         ("stat", {"query": {"distinct": "domain_id"}})]  # fmt: skip


@pytest.mark.parametrize(("method", "body"), CALLS)
@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("token", "")],
        [("authorization", "Bearer")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("token", "not-a-key")],
        [("token", "ep_0123456789ab_" + "x" * 40)],  # well-formed, unknown
        [("authorization", "Bearer ep_0123456789ab_" + "x" * 40)],
    ],
)
async def test_missing_or_wrong_keys_are_unauthenticated(
    svc: Service, method: str, body: dict[str, Any], metadata: list[tuple[str, str]]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await svc.call(method, body, metadata)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details().startswith("ERROR_AUTHENTICATE_FAILURE: ")
    assert "Traceback" not in raised.value.details()


async def test_forged_secret_of_a_known_key_is_unauthenticated(svc: Service) -> None:
    prefix, _, secret = svc.keys[A].rpartition("_")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await svc.call("list", {}, [("token", f"{prefix}_{secret[::-1]}")])
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("me", [A, B])
async def test_a_domain_key_sees_only_its_domain(svc: Service, me: str) -> None:
    for metadata in ([("token", svc.keys[me])], [("authorization", f"Bearer {svc.keys[me]}")]):
        got = await svc.call("list", {}, metadata)
        seeded = {e.event_id for e in got.results} & (IDS[A] | IDS[B])
        assert seeded == IDS[me]
        assert {e.domain_id for e in got.results} == {me}
    other = OTHER[me]
    refused = [("list", {"domain_id": other}),
               ("stat", {"query": {"distinct": "domain_id"}, "domain_id": other}),
               ("get", {"event_id": sorted(IDS[other])[0], "domain_id": other})]  # fmt: skip
    for method, body in refused:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await svc.call_as(method, me, body)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, (method, body)
        assert raised.value.details().startswith("ERROR_PERMISSION_DENIED: ")
        await assert_same_answer(svc, method, me, body)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await svc.call_as("get", me, {"event_id": sorted(IDS[other])[0]})
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    body = {"query": {"filter": [{"k": "domain_id", "v": other, "o": "eq"}]}}
    assert (await svc.call_as("list", me, body)).total_count == 0
    stat = await svc.call_as("stat", me, {"query": {"distinct": "domain_id"}})
    assert json_format.MessageToDict(stat) == {"results": [me]}


async def test_the_admin_key_sees_every_domain_and_can_narrow(svc: Service) -> None:
    got = await svc.call_as("stat", "admin", {"query": {"distinct": "domain_id"}})
    assert json_format.MessageToDict(got) == {"results": [A, B]}
    for domain in (A, B):
        got = await svc.call_as("list", "admin", {"domain_id": domain})
        assert {e.domain_id for e in got.results} == {domain}
        an_id = sorted(IDS[domain])[0]
        assert (await svc.call_as("get", "admin", {"event_id": an_id})).domain_id == domain
        await assert_same_answer(svc, "get", "admin", {"event_id": an_id})


# ---- limits, reflection, health -----------------------------------------------------------


async def test_deadlines_are_honoured(svc: Service) -> None:
    request = json_format.ParseDict({"query": {"distinct": "event_id"}}, event_pb2.EventStatQuery())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await svc.stub.stat(request, metadata=[("token", svc.keys[A])], timeout=0.001)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server is not stuck on it.
    assert (await svc.call_as("list", A, {"query": {"count_only": True}})).total_count >= 32


async def test_reflection_v1_and_v1alpha_serve_cloudforets_files(svc: Service) -> None:
    for service in (
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    ):
        call = svc.channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
            reflection_pb2.ServerReflectionRequest(
                file_by_filename="spaceone/api/core/v1/query.proto"
            ),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=service),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health"),
        ]
        answers = [answer async for answer in call(iter(requests), timeout=30)]
        # Listed: the API alone (Event, EventRule, Alert, Note), as Cloudforet's servers do;
        # the others are found by name.
        listed = [s.name for s in answers[0].list_services_response.service]
        assert listed == sorted([SERVICE, "spaceone.api.monitoring.v1.EventRule", *ALERT_SERVICES])
        files = {}
        for answer in answers[1:]:
            assert not answer.HasField("error_response"), answer
            for raw in answer.file_descriptor_response.file_descriptor_proto:
                proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files[proto.name] = proto
        expected = descriptor_pb2.FileDescriptorProto()
        event_pb2.DESCRIPTOR.CopyToProto(expected)
        assert files["spaceone/api/monitoring/v1/event.proto"] == expected
        assert files["spaceone/api/core/v1/query.proto"].package == "spaceone.api.core.v1"
        version = service.split(".")[2]
        (own,) = [p for p in files.values() if p.package == f"grpc.reflection.{version}"]
        assert [s.name for s in own.service] == ["ServerReflection"]
        (health,) = [p for p in files.values() if p.package == "grpc.health.v1"]
        assert [s.name for s in health.service] == ["Health"]


def cloudforet_client(address: str, key: str, calls: list[tuple[str, dict[str, Any]]]) -> list:
    """What Cloudforet's own client (spaceone-core's `pygrpc.client`) does on connecting:
    for every service reflection lists, fetch the file holding it, import
    `<package>.<file>_pb2_grpc` from its own compiled copy of Cloudforet's protos, take
    `<Service>Stub`; then call methods with the `<package>.<file>_pb2` request messages.
    Any listed service whose module cannot be imported fails the whole connection."""
    with grpc.insecure_channel(address) as channel:
        services = reflected_services(channel)
        assert set(services) == {"Event", "EventRule", "Alert", "Note"}
        event = services["Event"]
        answers = []
        for method, body in calls:
            request_type = REQUESTS[method].DESCRIPTOR.name
            request = json_format.ParseDict(body, getattr(event.messages, request_type)())
            answer = getattr(event.stub, method)(request, metadata=[("token", key)], timeout=60)
            answers.append(as_json(answer))
        return answers


async def test_cloudforets_own_client_connects_and_reads_as_rest(svc: Service) -> None:
    calls = [
        ("get", {"event_id": sorted(IDS[A])[0]}),
        ("list", {"query": {"page": {"limit": 5}, "sort": {"key": "title"}}}),
        ("stat", {"query": {"distinct": "severity"}}),
    ]
    got = await asyncio.to_thread(cloudforet_client, svc.grpc.address, svc.keys[A], calls)
    for (method, body), answer in zip(calls, got, strict=True):
        rest = await svc.rest(method, A, body)
        assert rest.status_code == 200, rest.text
        assert answer == seed_message(method, rest.json()), (method, body)


async def test_health_is_serving_while_elasticsearch_answers(svc: Service) -> None:
    health = health_pb2_grpc.HealthStub(svc.channel)
    for name in ("", SERVICE):
        got = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
        assert got.status == health_pb2.HealthCheckResponse.SERVING
    # Elasticsearch gone: the same server code, over a client that reaches nothing.
    dead = AsyncElasticsearch("http://127.0.0.1:1", request_timeout=1)
    state = SimpleNamespace(settings=svc.settings, es=dead)
    server = await start_grpc_server(state, "127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            got = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=10
            )
            assert got.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await server.stop(0)
        await dead.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_api_app_serves_grpc_beside_http_unless_its_port_is_0(
    settings: Settings, unique_name: str
) -> None:
    """`eventpipe api` runs the app's lifespan: gRPC starts and stops with it."""
    ours = pipeline_settings(settings, unique_name)
    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    try:
        app = create_app(ours)  # pipeline settings: grpc_port 0
        async with app.router.lifespan_context(app):
            assert app.state.grpc is None
        ours.api.grpc_port = free_port()
        app = create_app(ours)
        async with app.router.lifespan_context(app):
            address = app.state.grpc.address
            assert address == f"127.0.0.1:{ours.api.grpc_port}"
            key, _ = await app.state.keys.create(None)
            async with grpc.aio.insecure_channel(address) as channel:
                got = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                assert got.status == health_pb2.HealthCheckResponse.SERVING
                answer = await event_pb2_grpc.EventStub(channel).list(
                    event_pb2.EventQuery(), metadata=[("token", key)], timeout=30
                )
                assert answer.total_count == 0
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
            assert raised.value.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
    finally:
        await _remove(ours, es)
        await es.close()
