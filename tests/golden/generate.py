"""Write `records.json` and `expected.json`: raw records and what the processor makes of them.

The files were first written with the processor that was in place before the single-pass
rewrite (commit 60f3f44), and pin its output: `tests/unit/ingest/test_golden.py` feeds the
same records to today's processor, record by record and as one batch, and must get the same
events, alerts and dead letters. Today's generator runs today's steps (parse, the
`events.normalized` record format, correlation) record by record and must write exactly
the committed files (`test_golden.py` runs it in memory too), so a change of behaviour
shows as a change of these files, never silently.

Alerts are pinned by their correlation fields (`PINNED_ALERT_FIELDS`, what the first
processor's alerts held); alerts carry AlertInfo's fields too, which other tests check.

An integer beyond 64 bits in a payload (`{"big": 2**70}`) reaches raw_data and
additional_info as the nearest float (1.1805916207174113e+21): the documented limit of
`normalize.load_json` (orjson reads such integers as floats), pinned here so a change shows.

Run: `.venv/bin/python -m tests.golden.generate` (rewrites the files: check the diff).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from deploy.demo_payloads import SOURCES, payload
from ingest.process.correlate import correlate_batch
from ingest.process.normalize import (
    Position,
    decode_events,
    encode_events,
    signing_input,
    with_alert_id,
)
from ingest.process.parse import RawRecord, parse_batch
from ingest.process.route import by_partition
from ingest.process.states import encode_state
from ingest.webhooks.envelope import sign_envelope
from ingest.webhooks.keys import hash_access_key
from ingest.webhooks.registry import WebhookRegistry
from schemas.event import EventInfo
from schemas.topics import HEADER_SIGNATURE, HEADER_WEBHOOK
from schemas.webhook import PluginInfo, Webhook, WebhookState

HERE = Path(__file__).parent
SECRET = b"golden-signing-secret"
KEY = "golden-access-key-0123456789012345678901234"
START = datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC)
WINDOW = timedelta(seconds=600)
# The clock the sample payloads were first made at: their times are this, less n seconds.
PAYLOADS_AT = datetime(2026, 12, 1, 22, 39, 17, tzinfo=UTC)
PARTITIONS = 4
# The alert fields the first processor wrote: what correlation decides.
PINNED_ALERT_FIELDS = ("alert_id", "event_key", "project_id", "domain_id", "state", "urgency",
                       "first_event_at", "last_event_at", "resolved_at", "event_count")  # fmt: skip
# (pinned text, today's text, how many times): see the module's docstring.
OPTIONS = {"aws-sns": {"verify_signature": False, "confirm_subscription": False}}


def webhooks() -> dict[str, Webhook]:
    out = {}
    for n, plugin in enumerate([*SOURCES, "standard"]):
        webhook_id = f"webhook-{n:012x}"
        out[webhook_id] = Webhook(
            webhook_id=webhook_id,
            name=f"golden {plugin}",
            state=WebhookState.DISABLED if plugin == "zabbix" and False else WebhookState.ENABLED,
            plugin_info=PluginInfo(plugin_id=plugin, options=OPTIONS.get(plugin, {})),
            project_id=f"project-{n % 2}",
            domain_id="domain-1",
            tags={},
            created_at=START,
            updated_at=START,
            access_key_sha256=hash_access_key(KEY),
        )
    return out


class Store:
    def __init__(self, records: dict[str, Webhook]) -> None:
        self.records = records

    async def find(self, webhook_id: str) -> Webhook | None:
        return self.records.get(webhook_id)


def record_inputs(hooks: dict[str, Webhook]) -> list[dict[str, Any]]:
    """Raw records as the intake and direct producers write them, with odd ones mixed in."""
    by_plugin = {hook.plugin_info.plugin_id: hook.webhook_id for hook in hooks.values()}
    records: list[dict[str, Any]] = []

    def intake(webhook_id: str, body: bytes) -> None:
        signature = sign_envelope(SECRET, signing_input(webhook_id, body))
        headers = {HEADER_WEBHOOK: webhook_id.encode(), HEADER_SIGNATURE: signature.encode()}
        records.append({"value": body, "headers": headers})

    def direct(webhook_id: str, data: Any, key: str = KEY) -> None:
        body = json.dumps({"webhook_id": webhook_id, "access_key": key, "data": data}).encode()
        records.append({"value": body, "headers": {}})

    for n in range(4):
        for plugin in SOURCES:
            intake(by_plugin[plugin], json.dumps(payload(plugin, n, False, PAYLOADS_AT)).encode())
        for plugin in SOURCES:
            direct(by_plugin[plugin], payload(plugin, n, n % 2 == 1, PAYLOADS_AT))
    standard = by_plugin["standard"]
    direct(standard, {"event_key": "s1", "title": " spaced ", "severity": "CRITICAL"})
    direct(standard, [{"event_key": "s1", "event_type": "RECOVERY"}, {"event_key": "s2"}])
    direct(standard, {"event_key": "s3", "event_type": "RECOVERY"})  # no open alert
    direct(standard, {"event_key": "s4", "additional_info": {"n": 1, "big": 2**70, "x": 1.5}})
    direct(standard, {"title": "no key"})  # parse error event
    direct(standard, {"event_key": "s5"}, key="wrong-key")  # dead letter
    direct("webhook-ffffffffffff", {"event_key": "s6"})  # unknown webhook
    records.append({"value": b"not json", "headers": {}})
    records.append({"value": b'{"webhook_id": 3}', "headers": {}})
    intake(standard, b'{"event_key": "s7", "title": "caf\\u00e9 \xe2\x9c\x93"}')
    tampered = json.dumps({"event_key": "s8"}).encode()
    records.append(
        {"value": tampered, "headers": {HEADER_WEBHOOK: standard.encode(), HEADER_SIGNATURE: b"x"}}
    )
    direct(standard, {"event_key": "s1", "severity": "WARNING"})  # attaches to s1's alert? resolved
    return records


def encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


class Processed(NamedTuple):
    events: list[dict[str, Any]]
    alerts: dict[str, dict[str, Any]]
    dead_letters: list[dict[str, Any]]


async def process(
    batches: list[list[tuple[RawRecord, bytes | None]]], secret: bytes, registry: WebhookRegistry
) -> Processed:
    """Today's steps over the raw records, a batch at a time: parse, then through the
    `events.normalized` record format a record per partition (as the worker sends),
    correlation, and the alert id set in each document."""
    table: dict[bytes, bytes] = {}
    out = Processed([], {}, [])
    for batch in batches:
        parsed = await parse_batch(batch, registry, secret, lambda: False)
        out.dead_letters.extend({"offset": letter.position.offset, "code": letter.code}
                                for _, letter in parsed.letters)  # fmt: skip
        documents: dict[str, bytes] = {}
        for _, group in sorted(by_partition(parsed.events, PARTITIONS).items()):
            travelled = [e for value in encode_events(group) for e in decode_events(value)]
            correlated = correlate_batch(travelled, table, WINDOW)
            table.update({key: encode_state(state) for key, state in correlated.states.items()})
            for event, alert_id in zip(travelled, correlated.alert_ids, strict=True):
                documents[event.event_id] = with_alert_id(event.doc, alert_id or "")
            out.alerts.update(correlated.alerts)
        # In the order they were parsed (a record's events may go to several partitions).
        out.events.extend(json.loads(documents[event.event_id]) for event in parsed.events)
    return out


def raw_records(serialized: list[dict[str, Any]]) -> list[tuple[RawRecord, bytes | None]]:
    """`records.json`'s records as the worker reads them from `events.raw`."""
    records = []
    for r in serialized:
        position = Position(r["topic"], r["partition"], r["offset"])
        timestamp = datetime.fromtimestamp(r["timestamp_ms"] / 1000, UTC)
        headers = {k: base64.b64decode(v) for k, v in r["headers"].items()}
        value = base64.b64decode(r["value"])
        records.append((RawRecord(position, timestamp, value, headers), None))
    return records


def dumped(value: Any) -> str:
    return json.dumps(value, indent=1) + "\n"


async def generate() -> tuple[str, str]:
    """The texts of `records.json` and `expected.json`."""
    hooks = webhooks()
    serialized = []
    for offset, item in enumerate(record_inputs(hooks)):
        timestamp = START + timedelta(seconds=offset * 7)
        serialized.append(
            {
                "topic": "events.raw",
                "partition": offset % 3,
                "offset": offset,
                "timestamp_ms": int(timestamp.timestamp() * 1000),
                "value": encode(item["value"]),
                "headers": {k: encode(v) for k, v in item["headers"].items()},
            }
        )
    registry = WebhookRegistry(Store(hooks))
    got = await process([[record] for record in raw_records(serialized)], SECRET, registry)
    alerts = {alert_id: {name: alert[name] for name in PINNED_ALERT_FIELDS}
              for alert_id, alert in got.alerts.items()}  # fmt: skip
    # The fields each webhook was given (a field added to Webhook since is left out), and
    # each event's fields in EventInfo's order.
    stored = [h.model_dump(mode="json", exclude_unset=True) for h in hooks.values()]
    events = [{name: event[name] for name in EventInfo.model_fields if name in event}
              for event in got.events]  # fmt: skip
    given = {"secret": SECRET.decode(), "webhooks": stored, "records": serialized}
    expected = {"events": events, "alerts": alerts, "dead_letters": got.dead_letters}
    return dumped(given), dumped(expected)


def main() -> None:
    records, expected = asyncio.run(generate())
    (HERE / "records.json").write_text(records)
    (HERE / "expected.json").write_text(expected)
    made = json.loads(expected)
    counts = ", ".join(f"{len(made[part])} {part}" for part in made)
    print(f"{len(json.loads(records)['records'])} records -> {counts}")


if __name__ == "__main__":
    main()
