"""Event rules applied by a real worker to events sent through a real webhook (SPEC §10):
GLOBAL and PROJECT rules, each operator, policy and action on the event and its alert,
change_order, stop_processing, tenancy, changes while events flow, a worker restarted."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.settings import Settings
from tests.integration.pipeline import Pipeline, running_pipeline
from tests.reference.rule_eval import evaluate

RULE = "/monitoring/v1/event-rule"
D1, D2 = "domain-1", "domain-2"


async def rule_call(pipeline: Pipeline, method: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await pipeline.http.post(f"{RULE}/{method}", json=body, headers=pipeline.auth())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def when(*conditions: tuple[str, str, str], policy: str = "ALL") -> dict[str, Any]:
    return {
        "conditions_policy": policy,
        "conditions": [{"key": k, "operator": o, "value": v} for k, o, v in conditions],
    }


async def send(pipeline: Pipeline, webhook: dict[str, Any], event: dict[str, Any]) -> None:
    path = f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"
    response = await pipeline.http.post(path, json=event)
    assert response.status_code == 200, response.text


async def event_by_key(pipeline: Pipeline, key: str, domain: str = D1) -> dict[str, Any]:
    found: dict[str, Any] = {}
    body = {"domain_id": domain, "query": {"filter": [{"k": "event_key", "v": key, "o": "eq"}]}}

    async def indexed() -> bool:
        found.update(await pipeline.list_events(body))
        return found["total_count"] >= 1

    await pipeline.wait_for(indexed, 90, f"event {key}")
    return found["results"][0]  # type: ignore[no-any-return]


async def alert_of(pipeline: Pipeline, event: dict[str, Any]) -> dict[str, Any]:
    index = pipeline.settings.indices.alerts
    await pipeline.es.indices.refresh(index=index)
    return (await pipeline.es.get(index=index, id=event["alert_id"]))["_source"]  # type: ignore[no-any-return]


async def test_rules_on_events_and_their_alerts_through_a_real_webhook(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        hook = await pipeline.create_webhook("standard", D1)  # project-1
        other = await pipeline.create_webhook("standard", D2)
        responder = {"resource_type": "identity.User", "resource_id": "bob"}
        p1 = await rule_call(pipeline, "create", {
            "name": "critical disks to storage", "project_id": "project-1",
            **when(("title", "contain", "DISK"), ("severity", "eq", "CRITICAL")),
            "actions": {"change_project": "project-storage", "change_assignee": "alice",
                        "add_additional_info": {"team": "storage"},
                        "add_responder": [responder], "add_project_dependency": ["project-db"]},
            "domain_id": D1})  # fmt: skip
        p2 = await rule_call(pipeline, "create", {
            "name": "quiet the rest", "project_id": "project-1",
            **when(("additional_info.env", "eq", "staging"), ("title", "not_contain", "disk"),
                   policy="ANY"),
            "actions": {"change_urgency": "LOW", "no_notification": True},
            "options": {"stop_processing": True}, "domain_id": D1})  # fmt: skip
        await rule_call(
            pipeline,
            "create",
            {
                "name": "stamp",
                "conditions_policy": "ALWAYS",
                "actions": {"add_additional_info": {"seen_by": "global"}},
                "domain_id": D1,
            },
        )
        await rule_call(pipeline, "create", {
            "name": "on call", **when(("severity", "not", "INFO")),
            "actions": {"change_assignee": "carol"}, "domain_id": D1})  # fmt: skip
        await rule_call(pipeline, "create", {
            "name": "other domain", "conditions_policy": "ALWAYS",
            "actions": {"change_project": "hijacked", "add_additional_info": {"d2": True}},
            "domain_id": D2})  # fmt: skip
        assert (p1["order"], p2["order"]) == (1, 2)

        events = {
            "e1": {"title": "Disk full", "severity": "CRITICAL"},
            "e2": {"title": "CPU high", "severity": "WARNING", "additional_info": {"env": "prod"}},
            "e3": {"title": "disk slow", "severity": "INFO",
                   "additional_info": {"env": "staging"}},
            "e5": {"title": "disk check", "severity": "INFO", "additional_info": {"env": "prod"}},
            "e6": {"title": "Disk full", "severity": "CRITICAL",
                   "additional_info": {"env": "staging"}},
        }  # fmt: skip
        for key, body in events.items():
            await send(pipeline, hook, {"event_key": key, **body})
        await send(pipeline, other, {"event_key": "d2", "title": "Disk full",
                                     "severity": "CRITICAL"})  # fmt: skip

        e1 = await event_by_key(pipeline, "e1")
        assert e1["project_id"] == "project-storage"  # PROJECT rule, then GLOBAL ones
        assert e1["additional_info"] == {"team": "storage", "seen_by": "global"}
        alert = await alert_of(pipeline, e1)
        assert alert["project_id"] == "project-storage" and alert["urgency"] == "HIGH"
        assert alert["assignee"] == "carol"  # the later GLOBAL rule's
        assert alert["responders"] == [responder]
        assert alert["project_dependencies"] == ["project-db"]

        e2 = await event_by_key(pipeline, "e2")  # ANY: title not_contain disk; stops the run
        assert (e2["project_id"], e2["additional_info"]) == ("project-1", {"env": "prod"})
        alert = await alert_of(pipeline, e2)
        assert (alert["urgency"], alert["escalation_ttl"]) == ("LOW", 0)
        assert alert.get("assignee") is None

        e3 = await event_by_key(pipeline, "e3")  # ANY: additional_info.env eq staging
        assert e3["additional_info"] == {"env": "staging"}
        assert (await alert_of(pipeline, e3))["escalation_ttl"] == 0

        e5 = await event_by_key(pipeline, "e5")  # no PROJECT rule; `not INFO` fails
        assert e5["additional_info"] == {"env": "prod", "seen_by": "global"}
        alert = await alert_of(pipeline, e5)
        assert alert.get("assignee") is None and alert["urgency"] == "LOW"

        e6 = await event_by_key(pipeline, "e6")  # P1 moves it, then P2 stops the run
        assert e6["project_id"] == "project-storage"
        assert e6["additional_info"] == {"env": "staging", "team": "storage"}
        assert (await alert_of(pipeline, e6))["assignee"] == "alice"

        d2 = await event_by_key(pipeline, "d2", D2)  # tenancy, both ways
        assert d2["project_id"] == "hijacked" and d2["additional_info"] == {"d2": True}
        for event in (e1, e2, e3, e5, e6):
            assert "d2" not in event["additional_info"] and event["project_id"] != "hijacked"

        # change_order: the staging rule first now; a change applies within a second
        await rule_call(pipeline, "change_order", {"event_rule_id": p2["event_rule_id"],
                                                   "order": 1})  # fmt: skip
        await asyncio.sleep(1.0)
        await send(pipeline, hook, {"event_key": "e7", **events["e6"]})
        e7 = await event_by_key(pipeline, "e7")
        assert (e7["project_id"], e7["additional_info"]) == ("project-1", {"env": "staging"})

        # a worker restarted reads the rules (changed while it was down) before any event
        await pipeline.worker.kill()
        await rule_call(
            pipeline,
            "update",
            {"event_rule_id": p2["event_rule_id"], "options": {"stop_processing": False}},
        )
        await pipeline.worker.start()
        await send(pipeline, hook, {"event_key": "e8", **events["e6"]})
        e8 = await event_by_key(pipeline, "e8")
        assert e8["project_id"] == "project-storage"
        assert e8["additional_info"] == {"env": "staging", "team": "storage",
                                         "seen_by": "global"}  # fmt: skip


async def produce(settings: Settings, hook: dict[str, Any], count: int, pause: float) -> None:
    """`count` events straight to events.raw (a direct producer), one after another."""
    producer = AIOKafkaProducer(**settings.kafka.client_options(), acks="all")
    await producer.start()
    try:
        for i in range(count):
            data = {"event_key": f"flow-{i:04d}", "title": "flowing", "severity": "ERROR"}
            request = {"webhook_id": hook["webhook_id"], "access_key": hook["access_key"],
                       "data": data}  # fmt: skip
            await producer.send_and_wait(settings.topics.raw, json.dumps(request).encode(),
                                         key=hook["webhook_id"].encode())  # fmt: skip
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def test_rules_changed_while_events_flow_apply_whole(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    """Every event is processed under one whole rule set (one of the successive ones, never
    older than one an earlier event of the same partition saw)."""
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        hook = await pipeline.create_webhook("standard", D1)
        r1 = await rule_call(
            pipeline,
            "create",
            {
                "name": "r1",
                "conditions_policy": "ALWAYS",
                "actions": {"add_additional_info": {"a": "1"}},
                "domain_id": D1,
            },
        )
        r2 = await rule_call(pipeline, "create", {"name": "r2", "conditions_policy": "ALWAYS",
                             "actions": {"add_additional_info": {"a": "2", "b": "2"}},
                             "domain_id": D1})  # fmt: skip
        sets = [[r1, r2]]
        await send(pipeline, hook, {"event_key": "warm-up", "title": "warm-up"})
        await event_by_key(pipeline, "warm-up")  # the worker is consuming

        async def change(method: str, body: dict[str, Any]) -> None:
            await rule_call(pipeline, method, body)
            listed = await rule_call(pipeline, "list", {"domain_id": D1})
            sets.append(listed["results"])
            await asyncio.sleep(0.7)

        count = 240
        flowing = asyncio.create_task(produce(pipeline.settings, hook, count, 0.02))
        await asyncio.sleep(1.0)
        await change(
            "update",
            {
                "event_rule_id": r1["event_rule_id"],
                "actions": {"add_additional_info": {"a": "1", "c": "1"}},
            },
        )
        await change("change_order", {"event_rule_id": r2["event_rule_id"], "order": 1})
        await change("delete", {"event_rule_id": r2["event_rule_id"]})
        await flowing

        base = {"project_id": "project-1", "additional_info": {}}
        outcomes = [evaluate(rules, base)[0]["additional_info"] for rules in sets]
        assert len({json.dumps(o, sort_keys=True) for o in outcomes}) == len(outcomes)
        body = {"domain_id": D1, "query": {"filter": [{"k": "title", "v": "flowing", "o": "eq"}],
                                           "sort": {"key": "event_key"}}}  # fmt: skip
        results: list[dict[str, Any]] = []

        async def all_indexed() -> bool:
            found = await pipeline.list_events(body)
            results[:] = found["results"]
            return found["total_count"] >= count

        await pipeline.wait_for(all_indexed, 120, f"{count} events")
        seen = [outcomes.index(event["additional_info"]) for event in results]  # never a mix
        assert seen == sorted(seen)  # one partition: never back to an older set
        assert len(set(seen)) >= 3, seen


async def test_no_rules_no_change(settings: Settings, unique_name: str, tmp_path: Path) -> None:
    """A domain without rules: events and alerts exactly as before rules existed."""
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        hook = await pipeline.create_webhook("standard", D1)
        key = f"plain-{uuid.uuid4().hex[:6]}"
        await send(pipeline, hook, {"event_key": key, "title": "t", "severity": "ERROR",
                                    "additional_info": {"x": 1}})  # fmt: skip
        event = await event_by_key(pipeline, key)
        assert (event["project_id"], event["additional_info"]) == ("project-1", {"x": 1})
        alert = await alert_of(pipeline, event)
        assert alert["urgency"] == "HIGH" and alert["assignee"] is None
        assert alert["responders"] == [] and alert["project_dependencies"] == []
