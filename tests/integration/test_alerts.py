"""Alerts people act on (SPEC §9), end to end against the real engines: events through a
real webhook, a real `eventpipe worker` process correlating them and applying people's
changes, the API in-process over REST and over gRPC (compiled stubs, and a client that
finds the services as Cloudforet's own client does, by reflection).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from spaceone.api.monitoring.v1 import alert_pb2, alert_pb2_grpc, note_pb2

from query_api.grpc.server import GrpcServer
from schemas.settings import Settings
from tests.integration.cloudforet import reflected_services
from tests.integration.pipeline import (
    WorkerProcess,
    create_webhook,
    pipeline_settings,
    served_pipeline,
)

A, B = "domain-a", "domain-b"
ALERT, NOTE, EVENT = "/monitoring/v1/alert", "/monitoring/v1/note", "/monitoring/v1/event"
WAIT_SECONDS = 60


@dataclass
class Service:
    settings: Settings
    http: httpx.AsyncClient
    grpc: GrpcServer
    stub: alert_pb2_grpc.AlertStub
    keys: dict[str, str]  # domain or "admin" -> plain key
    key_ids: dict[str, str]
    hooks: dict[str, dict[str, Any]]  # domain -> webhook (standard plugin)
    worker: WorkerProcess

    async def post(self, path: str, who: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        deadline = time.monotonic() + 10
        while True:
            response = await self.http.post(path, headers=headers, json=body)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.25)

    async def ok(self, path: str, who: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.post(path, who, body)
        assert response.status_code == 200, (path, body, response.text)
        return response.json()

    async def send(self, domain: str, **event: Any) -> None:
        """One event through the webhook's URL, as a monitoring tool sends it; each one
        different (an identical one would be a sender's retry, dropped: SPEC §4.6)."""
        event.setdefault("description", f"sample {uuid.uuid4().hex[:8]}")
        hook = self.hooks[domain]
        url = f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"
        for _ in range(40):
            response = await self.http.post(url, json=event)
            if response.status_code != 503:
                break
            await asyncio.sleep(0.25)
        assert response.status_code == 200, response.text

    async def wait(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = await check()
            if found:
                return found
            assert self.worker.proc is not None and self.worker.proc.returncode is None, (
                f"the worker exited; log: {self.worker.log}"
            )
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; worker log: {self.worker.log}")

    async def alerts_of(self, key: str, who: str = A) -> list[dict[str, Any]]:
        body = {"event_key": key, "query": {"sort": {"key": "created_at"}}}
        return (await self.ok(f"{ALERT}/list", who, body))["results"]

    async def events_of(self, key: str, who: str = A) -> list[dict[str, Any]]:
        body = {"event_key": key, "query": {"sort": {"key": "created_at"}}}
        return (await self.ok(f"{EVENT}/list", who, body))["results"]


@pytest.fixture(scope="module")
async def svc(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    ours = pipeline_settings(settings, f"test-alerts-{uuid.uuid4().hex[:12]}")
    log = tmp_path_factory.mktemp("alerts") / "worker.log"
    async with (
        served_pipeline(ours, log) as served,
        grpc.aio.insecure_channel(served.grpc.address) as channel,
    ):
        keys, key_ids = {}, {}
        for who, domain in ((A, A), (B, B), ("admin", None)):
            keys[who], info = await served.app.state.keys.create(domain)
            key_ids[who] = info.key_id
        service = Service(ours, served.http, served.grpc, alert_pb2_grpc.AlertStub(channel),
                          keys, key_ids, {}, served.worker)  # fmt: skip
        for domain in (A, B):
            service.hooks[domain] = await create_webhook(served.http, keys["admin"], domain)
        await served.worker.start()
        yield service


def unique_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_an_alerts_life_through_a_real_webhook(svc: Service) -> None:
    key = unique_key("cpu")
    await svc.send(A, event_key=key, title="CPU high on web-1", severity="CRITICAL",
                   resource={"resource_id": "i-1", "name": "web-1"})  # fmt: skip
    (opened,) = await svc.wait("the alert", lambda: svc.alerts_of(key))
    assert (opened["state"], opened["urgency"], opened["title"]) == (
        "TRIGGERED", "HIGH", "CPU high on web-1")  # fmt: skip
    assert opened["alert_number"] >= 1 and opened["triggered_by"] == svc.hooks[A]["webhook_id"]
    assert opened["resource"]["name"] == "web-1" and opened["severity"] == "CRITICAL"
    assert "correlation_key" not in opened and "changes" not in opened
    alert_id = opened["alert_id"]

    acked = await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "state": "ACKNOWLEDGED"})
    assert acked["state"] == "ACKNOWLEDGED" and acked["acknowledged_at"]
    assert acked["updated_at"] >= opened["updated_at"]

    # More events of the key attach to it and leave it acknowledged.
    await svc.send(A, event_key=key, title="CPU high on web-1", severity="CRITICAL")
    events = await svc.wait("two events", lambda: _at_least(svc.events_of(key), 2))
    assert {e["alert_id"] for e in events} == {alert_id}
    got = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
    assert (got["state"], got["event_count"]) == ("ACKNOWLEDGED", 2)
    assert got["acknowledged_at"] == acked["acknowledged_at"]

    note = await svc.ok(f"{NOTE}/create", A, {"alert_id": alert_id, "note": "looking"})
    assert note["created_by"] == svc.key_ids[A] and note["project_id"] == "project-1"
    notes = await svc.ok(f"{NOTE}/list", A, {"alert_id": alert_id})
    assert [n["note"] for n in notes["results"]] == ["looking"] and notes["total_count"] == 1

    # A RECOVERY resolves the acknowledged alert.
    await svc.send(A, event_key=key, event_type="RECOVERY", severity="INFO")

    async def resolved() -> dict[str, Any] | None:
        alert = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
        return alert if alert["state"] == "RESOLVED" else None

    done = await svc.wait("the recovery", resolved)
    assert done["resolved_at"] and done["acknowledged_at"] == acked["acknowledged_at"]

    # A new ALERT of the key opens a new alert, numbered after the first.
    await svc.send(A, event_key=key, title="CPU high again", severity="WARNING")
    both = await svc.wait("a second alert", lambda: _at_least(svc.alerts_of(key), 2))
    second = both[1]
    assert second["alert_id"] != alert_id and second["state"] == "TRIGGERED"
    assert second["urgency"] == "LOW" and second["alert_number"] > opened["alert_number"]

    by_state = {"query": {"filter": [{"k": "event_key", "v": key, "o": "eq"}], "aggregate": [
        {"group": {"keys": [{"key": "state", "name": "state"}],
                   "fields": [{"operator": "count", "name": "n"}]}}]}}  # fmt: skip
    stat = await svc.ok(f"{ALERT}/stat", A, by_state)
    assert stat["results"] == [{"state": "RESOLVED", "n": 1}, {"state": "TRIGGERED", "n": 1}]

    # Another domain sees and changes nothing of it.
    for path, body in [
        (f"{ALERT}/get", {"alert_id": alert_id}),
        (f"{ALERT}/update", {"alert_id": alert_id, "state": "TRIGGERED"}),
        (f"{ALERT}/delete", {"alert_id": alert_id}),
        (f"{NOTE}/create", {"alert_id": alert_id, "note": "mine now"}),
        (f"{NOTE}/get", {"note_id": note["note_id"]}),
    ]:
        refused = await svc.post(path, B, body)
        assert refused.status_code == 404, (path, refused.text)
    assert await svc.alerts_of(key, B) == []
    assert (await svc.ok(f"{NOTE}/list", B, {"alert_id": alert_id}))["total_count"] == 0
    assert (await svc.ok(f"{ALERT}/stat", B, by_state))["results"] == []
    assert (await svc.post(f"{ALERT}/list", B, {"domain_id": A})).status_code == 403
    assert (await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id}))["state"] == "RESOLVED"

    # Deleting an alert deletes its notes; its events keep their alert_id.
    assert await svc.ok(f"{ALERT}/delete", A, {"alert_id": alert_id}) == {}
    assert (await svc.post(f"{ALERT}/get", A, {"alert_id": alert_id})).status_code == 404
    assert (await svc.ok(f"{NOTE}/list", A, {"alert_id": alert_id}))["total_count"] == 0
    assert {e["alert_id"] for e in (await svc.events_of(key))[:2]} == {alert_id}


async def _at_least(found: Awaitable[list[dict[str, Any]]], n: int) -> list[dict] | None:
    items = await found
    return items if len(items) >= n else None


async def test_create_responders_dependencies_snooze_and_refusals(svc: Service) -> None:
    created = await svc.ok(f"{ALERT}/create", A, {"title": "by hand", "project_id": "p-9",
                                                  "urgency": "LOW", "assignee": "ann"})  # fmt: skip
    assert (created["state"], created["urgency"], created["triggered_by"]) == (
        "TRIGGERED", "LOW", svc.key_ids[A])  # fmt: skip
    assert created["alert_number"] >= 1 and created["webhook_id"] is None
    alert_id = created["alert_id"]
    responder = {"alert_id": alert_id, "resource_type": "identity.User", "resource_id": "bob"}
    added = await svc.ok(f"{ALERT}/add_responder", A, responder)
    assert added["responders"] == [{"resource_type": "identity.User", "resource_id": "bob"}]
    again = await svc.post(f"{ALERT}/add_responder", A, responder)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "ERROR_SAME_RESPONDER_ALREADY_EXISTS"
    gone = await svc.post(f"{ALERT}/remove_project_dependency", A,
                          {"alert_id": alert_id, "project_id": "p-2"})  # fmt: skip
    assert gone.json()["error"]["code"] == "ERROR_PROJECT_DEPENDENCY_NOT_EXIST"
    dep = await svc.ok(f"{ALERT}/add_project_dependency", A,
                       {"alert_id": alert_id, "project_id": "p-2"})  # fmt: skip
    assert dep["project_dependencies"] == ["p-2"]
    snoozed = await svc.ok(f"{ALERT}/snooze", A,
                           {"alert_id": alert_id, "end_time": "2030-01-01T00:00:00Z"})  # fmt: skip
    assert (snoozed["is_snoozed"], snoozed["snoozed_end_time"]) == (
        True, "2030-01-01T00:00:00.000Z")  # fmt: skip
    moved = await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "project_id": "p-3"})
    assert (moved["project_id"], moved["assignee"]) == ("p-3", None)
    resolved = await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "state": "RESOLVED"})
    assert resolved["resolved_at"] and resolved["status_message"] == ""
    snoozed_list = {"is_snoozed": "true", "alert_id": alert_id, "state": "RESOLVED"}

    async def listed() -> list[dict[str, Any]]:  # searchable after the next refresh
        return (await svc.ok(f"{ALERT}/list", A, snoozed_list))["results"]

    (found,) = await svc.wait("the list to show it", listed)
    assert found == resolved
    callback = {"alert_id": alert_id, "state": "RESOLVED"}
    unimplemented = await svc.http.post(f"{ALERT}/update_state", json=callback)
    assert unimplemented.status_code == 501
    assert unimplemented.json()["error"]["code"] == "ERROR_NOT_IMPLEMENTED"


async def test_merge_moves_the_events_and_deletes_the_others(svc: Service) -> None:
    keys = [unique_key("merge"), unique_key("merge")]
    for key in keys:
        await svc.send(A, event_key=key, title=key, severity="ERROR")
    found = [(await svc.wait("alerts", lambda k=k: svc.alerts_of(k)))[0] for k in keys]
    ids = [a["alert_id"] for a in found]
    await svc.ok(f"{NOTE}/create", A, {"alert_id": ids[1], "note": "goes with it"})
    refused = await svc.post(f"{ALERT}/merge", A, {"alerts": ids[1:], "merge_to": ids[0]})
    assert refused.json()["error"]["code"] == "ERROR_MERGE_ALERT_NOT_EXIST"
    merged = await svc.ok(f"{ALERT}/merge", A, {"alerts": ids, "merge_to": ids[0]})
    assert merged["alert_id"] == ids[0]
    assert (await svc.post(f"{ALERT}/get", A, {"alert_id": ids[1]})).status_code == 404
    assert [e["alert_id"] for e in await svc.events_of(keys[1])] == [ids[0]]
    assert (await svc.ok(f"{NOTE}/list", A, {"alert_id": ids[1]}))["total_count"] == 0


async def test_no_change_is_lost_when_people_and_events_race(svc: Service) -> None:
    """Many events of one key and many people's changes to its alert, all at once: every
    event attaches, every change is in the alert, the acknowledgement stays."""
    key = unique_key("race")
    await svc.send(A, event_key=key, title="flapping", severity="CRITICAL")
    (alert,) = await svc.wait("the alert", lambda: svc.alerts_of(key))
    alert_id = alert["alert_id"]
    rounds, events = 20, 60

    async def person(i: int) -> None:
        responder = {"alert_id": alert_id, "resource_type": "user", "resource_id": f"u{i}"}
        await svc.ok(f"{ALERT}/add_responder", A, responder)
        if i == rounds // 2:
            await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "state": "ACKNOWLEDGED"})

    async def sender() -> None:
        for _ in range(events):
            await svc.send(A, event_key=key, title="flapping", severity="CRITICAL")

    await asyncio.gather(sender(), *(person(i) for i in range(rounds)))

    async def settled() -> dict[str, Any] | None:
        got = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
        return got if got["event_count"] == events + 1 else None

    final = await svc.wait("every event attached", settled)
    assert sorted(r["resource_id"] for r in final["responders"]) == sorted(
        f"u{i}" for i in range(rounds))  # fmt: skip
    assert final["state"] == "ACKNOWLEDGED"
    assert len(await svc.alerts_of(key)) == 1


# ---- gRPC ----------------------------------------------------------------------------------


def as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def as_message(answer: dict[str, Any], kind: type[Message]) -> dict[str, Any]:
    """A REST answer read as Cloudforet's message, back as canonical JSON."""
    return as_json(json_format.ParseDict(answer, kind(), ignore_unknown_fields=True))


def cloudforet_client(address: str, key: str, calls: list[tuple[str, str, dict[str, Any]]]
                      ) -> list[dict[str, Any]]:  # fmt: skip
    """As Cloudforet's client (spacectl, spaceone-core's pygrpc client) connects: every
    service reflection lists, its file fetched, `<package>.<file>_pb2_grpc` imported from its
    own compiled copy, `<Service>Stub` taken; requests built from that file's messages."""
    with grpc.insecure_channel(address) as channel:
        services = reflected_services(channel)
        assert {"Event", "Alert", "Note"} <= set(services)
        answers = []
        for service_name, method, body in calls:
            service = services[service_name]
            request = json_format.ParseDict(body, service.request(method)())
            answer = getattr(service.stub, method)(request, metadata=[("token", key)], timeout=60)
            answers.append(as_json(answer))
        return answers


async def test_the_same_walk_through_a_cloudforet_style_client(svc: Service) -> None:
    key = unique_key("grpc")
    await svc.send(A, event_key=key, title="Disk full", severity="ERROR")
    (alert,) = await svc.wait("the alert", lambda: svc.alerts_of(key))
    alert_id = alert["alert_id"]
    calls = [
        ("Alert", "list", {"query": {"filter": [{"k": "event_key", "v": key, "o": "eq"}]}}),
        ("Alert", "update", {"alert_id": alert_id, "state": "ACKNOWLEDGED"}),
        ("Note", "create", {"alert_id": alert_id, "note": "on it"}),
        ("Alert", "update", {"alert_id": alert_id, "state": "RESOLVED",
                             "status_message": "disk cleaned"}),
        ("Note", "list", {"alert_id": alert_id}),
    ]  # fmt: skip
    got = await asyncio.to_thread(cloudforet_client, svc.grpc.address, svc.keys[A], calls)
    listed, acked, note, resolved, notes = got
    assert listed["results"][0]["alert_id"] == alert_id and listed["total_count"] == 1
    assert acked["state"] == "ACKNOWLEDGED" and acked["acknowledged_at"]
    assert note["alert_id"] == alert_id and note["created_by"] == svc.key_ids[A]
    assert (resolved["state"], resolved["status_message"]) == ("RESOLVED", "disk cleaned")
    assert [n["note"] for n in notes["results"]] == ["on it"]
    # Counted by state once searchable (a list or stat sees a change after a refresh).
    group = {"keys": [{"key": "state"}], "fields": [{"operator": "count", "name": "n"}]}
    by_state = {"query": {"filter": [{"k": "alert_id", "v": alert_id, "o": "eq"}],
                          "aggregate": [{"group": group}]}}  # fmt: skip

    async def counted() -> dict[str, Any] | None:
        stat = await svc.ok(f"{ALERT}/stat", A, by_state)
        return stat if stat["results"] == [{"state": "RESOLVED", "n": 1}] else None

    rest_stat = await svc.wait("the stat", counted)
    grpc_stat = await svc.stub.stat(json_format.ParseDict(by_state, alert_pb2.AlertStatQuery()),
                                    metadata=[("token", svc.keys[A])], timeout=30)  # fmt: skip
    assert as_json(grpc_stat) == as_message(rest_stat, struct_pb2.Struct)
    # REST says the same, read as Cloudforet's messages.
    rest = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
    assert as_message(rest, alert_pb2.AlertInfo) == resolved
    rest_notes = await svc.ok(f"{NOTE}/list", A, {"alert_id": alert_id})
    assert as_message(rest_notes, note_pb2.NotesInfo) == notes
    # Another domain's key: NOT_FOUND; update_state: UNIMPLEMENTED.
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await svc.stub.get(alert_pb2.GetAlertRequest(alert_id=alert_id),
                           metadata=[("token", svc.keys[B])], timeout=30)  # fmt: skip
    assert other.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await svc.stub.update_state(alert_pb2.UpdateAlertStateRequest(alert_id=alert_id),
                                    timeout=30)  # fmt: skip
    assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---- random queries: REST and gRPC agree ----------------------------------------------------

TITLES = ["db down", "DB slow", "disk", "cpu"]
FIELDS = {
    "state": st.sampled_from(["TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ERROR"]),
    "urgency": st.sampled_from(["HIGH", "LOW"]),
    "assignee": st.sampled_from(["ann", "bob", "cid"]),
    "title": st.sampled_from(TITLES),
    "alert_number": st.integers(min_value=0, max_value=60),
    "project_id": st.sampled_from(["p-1", "p-2"]),
}
OPERATORS = {
    "state": ["eq", "not", "in", "not_in"], "urgency": ["eq", "not"],
    "assignee": ["eq", "contain", "not_contain", "exists"],
    "title": ["contain", "regex", "eq", "not_contain_in"],
    "alert_number": ["lt", "gte", "eq"], "project_id": ["eq", "in"],
}  # fmt: skip


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(FIELDS)))
    op = draw(st.sampled_from(OPERATORS[key]))
    if op == "exists":
        return {"k": key, "v": draw(st.booleans()), "o": op}
    if op in ("in", "not_in", "not_contain_in"):
        return {"k": key, "v": draw(st.lists(FIELDS[key], min_size=1, max_size=3)), "o": op}
    return {"k": key, "v": draw(FIELDS[key]), "o": op}


list_queries = st.fixed_dictionaries(
    {"filter": st.lists(conditions(), max_size=2),
     "filter_or": st.lists(conditions(), max_size=2),
     "sort": st.sampled_from([{"key": "alert_number"}, {"key": "title", "desc": True},
                              {"key": "created_at", "desc": True}]),
     "page": st.fixed_dictionaries({"start": st.integers(1, 3), "limit": st.integers(1, 10)})},
    optional={"keyword": st.sampled_from(["db", "disk", "alert-"]),
              "minimal": st.booleans()},
)  # fmt: skip
stat_queries = st.fixed_dictionaries(
    {"filter": st.lists(conditions(), max_size=2),
     "aggregate": st.sampled_from([
         [{"group": {"keys": [{"key": "state", "name": "state"}],
                     "fields": [{"operator": "count", "name": "n"}]}}],
         [{"group": {"keys": [{"key": "urgency", "name": "u"}, {"key": "assignee", "name": "a"}],
                     "fields": [{"operator": "max", "key": "alert_number", "name": "top"},
                                {"operator": "add_to_set", "key": "title", "name": "titles"}]}},
          {"sort": {"key": "top", "desc": True}}],
         [{"count": {"name": "total"}}],
         [{"sort": {"key": "alert_number"}}, {"limit": 3},
          {"project": {"fields": [{"key": "title", "name": "t"}]}}],
     ])},
)  # fmt: skip


@pytest.fixture(scope="module")
async def many(svc: Service) -> list[dict[str, Any]]:
    """Alerts of varied fields in domain-b, made by people (create, update)."""
    made = []
    for i in range(24):
        body = {"title": f"{TITLES[i % 4]} {i}", "project_id": f"p-{i % 2 + 1}",
                "urgency": "HIGH" if i % 3 else "LOW"}  # fmt: skip
        if i % 4:
            body["assignee"] = ["ann", "bob", "cid"][i % 3]
        alert = await svc.ok(f"{ALERT}/create", B, body)
        if i % 5 == 1:
            state = ["ACKNOWLEDGED", "RESOLVED"][i % 2]
            alert = await svc.ok(f"{ALERT}/update", B, {"alert_id": alert["alert_id"],
                                                        "state": state})  # fmt: skip
        made.append(alert)
    await svc.wait("the alerts searchable", lambda: _at_least(_all_of(svc, B), len(made)))
    return made


async def _all_of(svc: Service, who: str) -> list[dict[str, Any]]:
    return (await svc.ok(f"{ALERT}/list", who, {"query": {"page": {"limit": 100}}}))["results"]


@hypothesis_settings(max_examples=30, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(query=list_queries, stat=stat_queries)
async def test_random_list_and_stat_answer_alike_over_rest_and_grpc(
    svc: Service, many: list[dict[str, Any]], query: dict[str, Any], stat: dict[str, Any]
) -> None:
    token = [("token", svc.keys[B])]
    for method, body, answer_type in (("list", {"query": query}, alert_pb2.AlertsInfo),
                                      ("stat", {"query": stat}, struct_pb2.Struct)):  # fmt: skip
        rest = await svc.post(f"{ALERT}/{method}", B, body)
        request_type = alert_pb2.AlertQuery if method == "list" else alert_pb2.AlertStatQuery
        request = json_format.ParseDict(body, request_type())
        try:
            got = await getattr(svc.stub, method)(request, metadata=token, timeout=60)
        except grpc.aio.AioRpcError as error:
            assert rest.status_code == 400, (body, rest.text, error.details())
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error.details().split(":")[0] == rest.json()["error"]["code"]
            continue
        assert rest.status_code == 200, (body, rest.text)
        assert as_json(got) == as_message(rest.json(), answer_type), body


async def test_whoami(svc: Service) -> None:
    domain = await svc.ok("/monitoring/v1/apikey/whoami", A, {})
    assert (domain["domain_id"], domain["admin"]) == (A, False)
    admin = await svc.ok("/monitoring/v1/apikey/whoami", "admin", {})
    assert (admin["domain_id"], admin["admin"]) == (None, True)


async def test_a_replay_of_every_record_reverts_no_persons_change(svc: Service) -> None:
    """The worker stopped, its committed offsets of events.normalized set back to the start,
    started again: it reads every event and every change again (a replay), against the
    states its changelog kept. An acknowledgement read again after the RECOVERY that
    followed it does not take the alert back from RESOLVED; nothing a person changed is
    undone; no alert is opened or numbered again. Runs last: it restarts the worker."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    key = unique_key("replay")
    await svc.send(A, event_key=key, title="replayed", severity="CRITICAL")
    (alert,) = await svc.wait("the alert", lambda: svc.alerts_of(key))
    alert_id = alert["alert_id"]
    await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "state": "ACKNOWLEDGED"})
    responder = {"alert_id": alert_id, "resource_type": "user", "resource_id": "ann"}
    await svc.ok(f"{ALERT}/add_responder", A, responder)
    await svc.send(A, event_key=key, event_type="RECOVERY", severity="INFO")

    async def resolved() -> dict[str, Any] | None:
        got = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
        return got if got["state"] == "RESOLVED" else None

    await svc.wait("the recovery", resolved)
    before = await svc.ok(f"{ALERT}/update", A, {"alert_id": alert_id, "title": "renamed"})
    created = await svc.ok(f"{ALERT}/create", A, {"title": "by hand", "project_id": "p"})

    await svc.worker.stop()
    settings = svc.settings
    consumer = AIOKafkaConsumer(**settings.kafka.client_options(), enable_auto_commit=False,
                                group_id=settings.ingest.worker_group)  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.normalized, p)
               for p in range(settings.topics.partitions)]  # fmt: skip
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()
    await svc.worker.start()

    # A new ALERT of the key after the replay (its partition's records all read before it):
    # a new alert, the resolved one left as it was.
    await svc.send(A, event_key=key, title="replayed", severity="CRITICAL")
    both = await svc.wait("a new alert after the replay", lambda: _at_least(svc.alerts_of(key), 2))
    assert both[1]["alert_id"] != alert_id and both[1]["alert_number"] > before["alert_number"]
    after = await svc.ok(f"{ALERT}/get", A, {"alert_id": alert_id})
    assert after == before
    assert (after["state"], after["title"], after["event_count"]) == ("RESOLVED", "renamed", 2)
    assert after["responders"] == [{"resource_type": "user", "resource_id": "ann"}]
    assert await svc.ok(f"{ALERT}/get", A, {"alert_id": created["alert_id"]}) == created
