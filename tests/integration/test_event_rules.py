"""The EventRule service against the real engines: REST and gRPC (Cloudforet's compiled
stubs, found as Cloudforet's own client finds them), ordering, bad rules, tenancy, and the
rules topic as the truth (what the worker reads)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from ingest.rules.log import EventRuleLog
from query_api.grpc.server import GrpcServer
from schemas.settings import Settings
from tests.integration.cloudforet import reflected_services
from tests.integration.pipeline import Served, pipeline_settings, served_pipeline

A, B = "domain-rules-a", "domain-rules-b"
RULE = "/monitoring/v1/event-rule"


@dataclass
class Api:
    pipeline: Served
    keys: dict[str, str]

    @property
    def grpc(self) -> GrpcServer:
        return self.pipeline.grpc

    async def call(self, method: str, body: dict[str, Any], who: str = A) -> httpx.Response:
        return await self.pipeline.http.post(
            f"{RULE}/{method}", json=body, headers={"Authorization": f"Bearer {self.keys[who]}"}
        )

    async def ok(self, method: str, body: dict[str, Any], who: str = A) -> Any:
        response = await self.call(method, body, who)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def api(settings: Settings, unique_name: str, tmp_path: Path) -> AsyncIterator[Api]:
    ours = pipeline_settings(settings, unique_name)
    async with served_pipeline(ours, tmp_path / "worker.log") as served:
        store = served.app.state.keys
        keys = {who: (await store.create(domain))[0] for who, domain in
                ((A, A), (B, B), ("admin", None))}  # fmt: skip
        yield Api(served, keys)


def condition(key: str, value: str, operator: str = "eq") -> dict[str, str]:
    return {"key": key, "value": value, "operator": operator}


def new_rule(name: str, project_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "conditions": [condition("title", name, "contain")],
            "conditions_policy": "ALL", "actions": {"change_urgency": "LOW"}, **fields}  # fmt: skip
    if project_id:
        body["project_id"] = project_id
    return body


async def test_create_get_list_update_change_order_delete_over_rest(api: Api) -> None:
    made = [await api.ok("create", new_rule(f"g{i}")) for i in range(1, 4)]
    mine = [await api.ok("create", new_rule(f"p{i}", "project-x")) for i in range(1, 3)]
    assert [(r["scope"], r["order"]) for r in made] == [("GLOBAL", 1), ("GLOBAL", 2), ("GLOBAL", 3)]
    assert [(r["scope"], r["order"], r["project_id"]) for r in mine] == [
        ("PROJECT", 1, "project-x"), ("PROJECT", 2, "project-x")]  # fmt: skip
    assert made[0]["event_rule_id"].startswith("event-rule-") and made[0]["domain_id"] == A
    assert made[0]["project_id"] is None and made[0]["created_at"].endswith("Z")

    got = await api.ok("get", {"event_rule_id": made[1]["event_rule_id"]})
    assert got == made[1]
    only = await api.ok("get", {"event_rule_id": made[1]["event_rule_id"], "only": ["name"]})
    assert only == {"name": "g2"}

    moved = await api.ok("change_order", {"event_rule_id": made[2]["event_rule_id"], "order": 1})
    assert moved["order"] == 1
    listed = await api.ok("list", {"scope": "GLOBAL"})
    assert [(r["name"], r["order"]) for r in listed["results"]] == [("g3", 1), ("g1", 2), ("g2", 3)]
    assert listed["total_count"] == 3
    beyond = await api.call("change_order", {"event_rule_id": made[0]["event_rule_id"], "order": 4})
    assert beyond.status_code == 400 and "order" in beyond.json()["error"]["message"]

    updated = await api.ok(
        "update",
        {
            "event_rule_id": made[0]["event_rule_id"],
            "actions": {"change_assignee": "bob"},
            "tags": {"t": 1},
        },
    )
    assert updated["actions"]["change_assignee"] == "bob"
    assert updated["actions"]["change_urgency"] is None  # replaced whole
    assert (updated["order"], updated["name"], updated["tags"]) == (2, "g1", {"t": 1})

    await api.ok("delete", {"event_rule_id": made[2]["event_rule_id"]})
    listed = await api.ok("list", {"query": {"filter": [condition("scope", "GLOBAL")]}})
    assert [(r["name"], r["order"]) for r in listed["results"]] == [("g1", 1), ("g2", 2)]
    gone = await api.call("get", {"event_rule_id": made[2]["event_rule_id"]})
    assert gone.status_code == 404

    # list and stat read the Elasticsearch copy, with the events' translator and planner
    found = await api.ok("list", {"query": {"keyword": "p2", "only": ["name", "order"]}})
    assert found == {"results": [{"name": "p2", "order": 2}], "total_count": 1}
    stat = await api.ok("stat", {"query": {"aggregate": [
        {"group": {"keys": [{"key": "scope", "name": "scope"}],
                   "fields": [{"operator": "count", "name": "n"},
                              {"operator": "max", "key": "order", "name": "top"}]}},
        {"sort": {"key": "scope"}}]}})  # fmt: skip
    assert stat["results"] == [{"scope": "GLOBAL", "n": 2, "top": 2},
                               {"scope": "PROJECT", "n": 2, "top": 2}]  # fmt: skip

    # the topic is the truth: a fresh reader (a worker) sees the same set
    reader = EventRuleLog(api.pipeline.settings)
    await reader.start()
    try:
        await reader.wait_loaded()
        version = reader.table.get(A)
        assert version is not None and version.value is not None
        names = sorted((r.name, r.order) for r in version.value.rules)
        assert names == [("g1", 1), ("g2", 2), ("p1", 1), ("p2", 2)]
        assert reader.program(A).rule_count == 4
    finally:
        await reader.stop()


BAD = [
    ({"conditions_policy": "SOMETIMES"}, "conditions_policy"),
    ({"conditions": [condition("title", "x", "regex")]}, "conditions.0.operator"),
    ({"conditions": [condition("raw_data.x", "x")]}, "conditions.0.key"),
    ({"actions": {"change_urgency": "URGENT"}}, "actions.change_urgency"),
    ({"actions": {"no_notification": "yes"}}, "actions.no_notification"),
    ({"actions": {"add_responder": {"resource_id": "u"}}}, "actions.add_responder"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
async def test_bad_rules_are_400_naming_the_field_and_nothing_is_saved(
    api: Api, change: dict[str, Any], field: str
) -> None:
    response = await api.call("create", {**new_rule("bad"), **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "ERROR_INVALID_ARGUMENT" and field in error["message"]
    good = await api.ok("create", new_rule("good"))
    response = await api.call("update", {"event_rule_id": good["event_rule_id"], **change})
    assert response.status_code == 400 and field in response.json()["error"]["message"]
    assert await api.ok("get", {"event_rule_id": good["event_rule_id"]}) == good
    assert (await api.ok("list", {}))["total_count"] == 1


async def test_a_domain_never_sees_or_changes_another_domains_rules(api: Api) -> None:
    theirs = await api.ok("create", new_rule("theirs"), who=B)
    await api.ok("create", new_rule("mine"), who=A)
    for method, body in [
        ("get", {"event_rule_id": theirs["event_rule_id"]}),
        ("update", {"event_rule_id": theirs["event_rule_id"], "name": "taken"}),
        ("change_order", {"event_rule_id": theirs["event_rule_id"], "order": 1}),
        ("delete", {"event_rule_id": theirs["event_rule_id"]}),
    ]:
        response = await api.call(method, body, who=A)
        assert response.status_code == 404, (method, response.text)
    assert [r["name"] for r in (await api.ok("list", {}, who=A))["results"]] == ["mine"]
    stat = await api.ok("stat", {"query": {"aggregate": [{"count": {"name": "n"}}]}}, who=A)
    assert stat["results"] == [{"n": 1}]
    refused = await api.call("list", {"domain_id": B}, who=A)
    assert refused.status_code == 403
    assert (await api.ok("get", {"event_rule_id": theirs["event_rule_id"]}, who=B))["name"] == (
        "theirs"
    )
    # an admin key says which domain it creates in
    no_domain = await api.call("create", new_rule("admin"), who="admin")
    assert no_domain.status_code == 400 and "domain_id" in no_domain.json()["error"]["message"]


def cloudforet_client(address: str, token: str) -> dict[str, Any]:
    """Rules made as Cloudforet's own client makes them: list the services by reflection,
    import `<package>.<file>_pb2(_grpc)` from Cloudforet's compiled stubs for each, call with
    metadata `token`."""
    with grpc.insecure_channel(address) as channel:
        services = reflected_services(channel)
        names = [service.full_name for service in services.values()]
        messages, stub = services["EventRule"].messages, services["EventRule"].stub
        meta = [("token", token)]
        create = json_format.ParseDict({
            "name": "disk to storage", "conditions_policy": "ANY",
            "conditions": [{"key": "title", "value": "disk", "operator": "contain"}],
            "actions": {"change_urgency": "LOW", "add_additional_info": {"team": "storage"},
                        "add_responder": [{"resource_type": "identity.User",
                                           "resource_id": "alice"}]},
        }, messages.CreateEventRuleRequest())  # fmt: skip
        first = stub.create(create, metadata=meta, timeout=10)
        always = messages.CreateEventRuleRequest(name="everything", conditions_policy=3,
                                                 project_id="project-y")  # fmt: skip
        always.actions.change_assignee = "bob"
        second = stub.create(always, metadata=meta, timeout=10)
        got = stub.get(messages.GetEventRuleRequest(event_rule_id=first.event_rule_id),
                       metadata=meta, timeout=10)  # fmt: skip
        listed_rules = stub.list(messages.EventRuleQuery(scope="PROJECT"), metadata=meta,
                                 timeout=10)  # fmt: skip
        stat = stub.stat(json_format.ParseDict(
            {"query": {"aggregate": [{"count": {"name": "n"}}]}},
            messages.EventRuleStatQuery()), metadata=meta, timeout=10)  # fmt: skip
        try:
            stub.create(messages.CreateEventRuleRequest(name="bad", conditions_policy=1,
                        conditions=[messages.EventRuleCondition(key="nope", value="x",
                                                                operator="eq")]),
                        metadata=meta, timeout=10)  # fmt: skip
            refused = None
        except grpc.RpcError as error:
            refused = (error.code(), error.details())
        stub.delete(messages.EventRuleRequest(event_rule_id=first.event_rule_id), metadata=meta,
                    timeout=10)  # fmt: skip
        remaining = stub.list(messages.EventRuleQuery(), metadata=meta, timeout=10)
    as_dict = lambda m: json_format.MessageToDict(m, preserving_proto_field_name=True)  # noqa: E731
    return {"services": names, "first": as_dict(first), "second": as_dict(second),
            "got": as_dict(got), "listed": as_dict(listed_rules), "stat": as_dict(stat),
            "refused": refused, "remaining": as_dict(remaining)}  # fmt: skip


async def test_cloudforet_client_makes_rules_over_grpc(api: Api) -> None:
    out = await asyncio.to_thread(cloudforet_client, api.grpc.address, api.keys[A])
    assert "spaceone.api.monitoring.v1.EventRule" in out["services"]
    first = out["first"]
    assert first["scope"] == "GLOBAL" and first["order"] == 1 and first["domain_id"] == A
    assert first["conditions_policy"] == "ANY"
    assert first["actions"]["add_additional_info"] == {"team": "storage"}
    assert first["actions"]["add_responder"] == [{"resource_type": "identity.User",
                                                  "resource_id": "alice"}]  # fmt: skip
    assert out["got"] == first
    assert out["second"]["conditions_policy"] == 3  # ALWAYS, beyond 1.1.1's enum
    assert out["second"]["scope"] == "PROJECT" and out["second"]["project_id"] == "project-y"
    assert [r["name"] for r in out["listed"]["results"]] == ["everything"]
    assert out["stat"]["results"] == [{"n": 2.0}]
    code, details = out["refused"]
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "conditions.0.key" in details
    assert out["remaining"]["total_count"] == 1
    rest = await api.ok("get", {"event_rule_id": out["second"]["event_rule_id"]})
    assert rest["conditions_policy"] == "ALWAYS" and rest["actions"]["change_assignee"] == "bob"


async def test_rule_ids_are_unique_and_concurrent_creates_all_land(api: Api) -> None:
    made = await asyncio.gather(*(api.ok("create", new_rule(f"c{i}")) for i in range(8)))
    assert len({r["event_rule_id"] for r in made}) == 8
    listed = await api.ok("list", {})
    assert sorted(r["order"] for r in listed["results"]) == list(range(1, 9))


def unique() -> str:
    return uuid.uuid4().hex[:8]
