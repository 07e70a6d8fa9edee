"""The pipeline end to end: HTTP intake or a direct producer -> Kafka -> worker -> ES -> list."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.settings import Settings
from tests.integration.pipeline import Pipeline, running_pipeline

FIRING: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="HighCPU"}',
    "status": "firing",
    "receiver": "eventpipe",
    "groupLabels": {"alertname": "HighCPU"},
    "commonLabels": {"alertname": "HighCPU"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighCPU", "severity": "critical", "instance": "web-1:9100",
                       "rule_group": "node.rules"},
            "annotations": {"summary": " CPU above 90% ", "description": "web-1 CPU is 97%",
                            "runbook_url": "https://runbooks/cpu"},
            "startsAt": "2024-05-01T10:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph?g0.expr=cpu",
            "fingerprint": "c0ffee0123456789",
        }
    ],
}  # fmt: skip


def resolved_twin(payload: dict[str, Any]) -> dict[str, Any]:
    twin = copy.deepcopy(payload)
    twin["status"] = "resolved"
    for alert in twin["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2024-05-01T10:05:00.000Z"
    return twin


def webhook_path(webhook: dict[str, Any]) -> str:
    return f"/monitoring/v1/webhook/{webhook['webhook_id']}/{webhook['access_key']}/events"


async def wait_for_events(pipeline: Pipeline, count: int, body: dict[str, Any] | None = None
                          ) -> list[dict[str, Any]]:  # fmt: skip
    found: dict[str, Any] = {}

    async def enough() -> bool:
        found.update(await pipeline.list_events(body))
        return found["total_count"] >= count

    await pipeline.wait_for(enough, 90, f"{count} events")
    assert found["total_count"] == count
    return found["results"]


async def alert_state(pipeline: Pipeline, alert_id: str) -> dict[str, Any]:
    index = pipeline.settings.indices.alerts
    await pipeline.es.indices.refresh(index=index)
    return (await pipeline.es.get(index=index, id=alert_id))["_source"]


async def test_alertmanager_firing_then_resolved_over_http(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("prometheus")
        response = await pipeline.http.post(
            webhook_path(webhook),
            content=json.dumps(FIRING),
            headers={"Content-Type": "text/plain"},
        )
        assert (response.status_code, response.json()) == (200, {})
        [event] = await wait_for_events(pipeline, 1)

        assert event["event_id"].startswith("event-")
        assert event["event_key"] == "c0ffee0123456789"
        assert (event["event_type"], event["severity"]) == ("ALERT", "CRITICAL")
        assert event["title"] == "CPU above 90%"
        assert event["description"] == "web-1 CPU is 97%"
        assert event["rule"] == "node.rules"
        assert event["resource"] == {"resource_id": "web-1:9100", "resource_type": "instance",
                                     "name": "web-1:9100"}  # fmt: skip
        assert event["provider"] == "prometheus"
        assert event["occurred_at"] == "2024-05-01T10:00:00.000Z"
        assert event["additional_info"]["runbook_url"] == "https://runbooks/cpu"
        assert event["additional_info"]["severity"] == "critical"
        assert event["raw_data"] == FIRING
        assert (event["webhook_id"], event["project_id"], event["domain_id"]) == (
            webhook["webhook_id"], "project-1", "domain-1",
        )  # fmt: skip
        assert event["alert_id"].startswith("alert-")
        assert event["created_at"].endswith("Z")
        opened = await alert_state(pipeline, event["alert_id"])
        assert (opened["state"], opened["urgency"], opened["event_count"]) == (
            "TRIGGERED",
            "HIGH",
            1,
        )

        response = await pipeline.http.post(webhook_path(webhook), json=resolved_twin(FIRING))
        assert response.status_code == 200
        events = await wait_for_events(pipeline, 2)
        recovery = next(e for e in events if e["event_type"] == "RECOVERY")
        assert recovery["alert_id"] == event["alert_id"]
        assert recovery["event_key"] == event["event_key"]
        resolved = await alert_state(pipeline, event["alert_id"])
        assert (resolved["state"], resolved["event_count"]) == ("RESOLVED", 2)


async def test_direct_producer_gives_the_same_events(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("prometheus")
        assert (await pipeline.http.post(webhook_path(webhook), json=FIRING)).status_code == 200
        [over_http] = await wait_for_events(pipeline, 1)

        producer = AIOKafkaProducer(**settings.kafka.client_options())
        await producer.start()
        try:
            request = {"webhook_id": webhook["webhook_id"], "access_key": webhook["access_key"],
                       "data": resolved_twin(FIRING)}  # fmt: skip
            await producer.send_and_wait(pipeline.settings.topics.raw, json.dumps(request).encode())
        finally:
            await producer.stop()
        events = await wait_for_events(pipeline, 2)
        direct = next(e for e in events if e["event_type"] == "RECOVERY")
        assert direct["alert_id"] == over_http["alert_id"]
        same = {k: v for k, v in direct.items()
                if k not in ("event_id", "event_type", "created_at", "raw_data")}  # fmt: skip
        assert same == {k: over_http[k] for k in same}
        assert direct["raw_data"] == resolved_twin(FIRING)


async def test_intake_refuses_bad_requests(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path, start_worker=False,
                                max_body_bytes=4096) as pipeline:  # fmt: skip
        webhook = await pipeline.create_webhook("prometheus")
        wid, key = webhook["webhook_id"], webhook["access_key"]
        post = pipeline.http.post

        async def status(path: str, **kwargs: Any) -> tuple[int, str]:
            response = await post(path, **kwargs)
            return response.status_code, response.json()["error"]["code"] if (
                response.status_code != 200
            ) else ""

        base = "/monitoring/v1/webhook"
        assert await status(f"{base}/{wid}/wrong-key/events", json=FIRING) == (
            403, "ERROR_PERMISSION_DENIED")  # fmt: skip
        assert await status(f"{base}/webhook-000000000000/{key}/events", json=FIRING) == (
            404, "ERROR_NOT_FOUND")  # fmt: skip
        assert await status(f"{base}/{wid}/{key}/events", content=b"{nope") == (
            400, "ERROR_INVALID_ARGUMENT")  # fmt: skip
        assert await status(f"{base}/{wid}/{key}/events", content=b"[" + b"1," * 4096 + b"1]") == (
            413, "ERROR_REQUEST_TOO_LARGE")  # fmt: skip
        assert await status(f"{base}/{wid}/events", json=FIRING, headers={"X-Access-Key": key}) == (
            200, "")  # fmt: skip
        assert await status(
            "/monitoring/v1/event/create",
            json={"webhook_id": wid, "access_key": key, "data": FIRING},
        ) == (200, "")
        disabled = await post(f"{base}/disable", headers=pipeline.auth(), json={"webhook_id": wid})
        assert disabled.status_code == 200, disabled.text
        assert await status(f"{base}/{wid}/{key}/events", json=FIRING) == (
            400, "ERROR_WEBHOOK_STATE_DISABLED")  # fmt: skip


async def test_unreadable_records_go_to_the_dead_letter_topic(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook("prometheus")
        topics = pipeline.settings.topics
        bad = {
            b"\x00not json": "ERROR_NOT_JSON",
            json.dumps({"webhook_id": webhook["webhook_id"]}).encode(): "ERROR_INVALID_ARGUMENT",
            json.dumps({"webhook_id": webhook["webhook_id"], "access_key": "wrong",
                        "data": FIRING}).encode(): "ERROR_PERMISSION_DENIED",
        }  # fmt: skip
        producer = AIOKafkaProducer(**settings.kafka.client_options())
        await producer.start()
        try:
            for n, value in enumerate(bad):
                # Direct producers need not key their records.
                await producer.send_and_wait(topics.raw, value, key=b"k" if n else None)
            # A good record after the bad ones still gets through: nothing blocks the partition.
            good = {"webhook_id": webhook["webhook_id"], "access_key": webhook["access_key"],
                    "data": FIRING}  # fmt: skip
            await producer.send_and_wait(topics.raw, json.dumps(good).encode(), key=b"k")
        finally:
            await producer.stop()
        await wait_for_events(pipeline, 1)

        consumer = AIOKafkaConsumer(topics.dlq, **settings.kafka.client_options(),
                                    auto_offset_reset="earliest")  # fmt: skip
        await consumer.start()
        letters: dict[bytes, dict[str, bytes]] = {}
        keys: dict[bytes, bytes | None] = {}
        try:
            async with asyncio.timeout(30):
                while len(letters) < len(bad):
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        letters.update({r.value: dict(r.headers) for r in records})
                        keys.update({r.value: r.key for r in records})
        finally:
            await consumer.stop()
        assert set(letters) == set(bad)
        assert [keys[value] for value in bad] == [None, b"k", b"k"]  # as they came
        for value, code in bad.items():
            headers = letters[value]
            assert headers["eventpipe-error-code"].decode() == code
            assert headers["eventpipe-error-reason"]
            assert headers["eventpipe-source-topic"].decode() == topics.raw
            assert int(headers["eventpipe-source-offset"]) >= 0


@pytest.mark.parametrize("plugin", ["grafana", "zabbix"])
async def test_parse_failure_becomes_an_error_event(
    settings: Settings, unique_name: str, tmp_path: Path, plugin: str
) -> None:
    async with running_pipeline(settings, unique_name, tmp_path) as pipeline:
        webhook = await pipeline.create_webhook(plugin)
        assert (await pipeline.http.post(webhook_path(webhook), json=[1, 2])).status_code == 200
        [event] = await wait_for_events(pipeline, 1)
        assert (event["event_type"], event["severity"]) == ("ERROR", "CRITICAL")
        assert event["title"] == f"Webhook Event Parsing Error - {plugin} hook"
        assert event["description"]
        assert event["alert_id"]
