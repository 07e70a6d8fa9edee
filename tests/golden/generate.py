"""Write `records.json` and `expected.json`: raw records and what the processor makes of them.

Run once, with the processor that was in place before the single-pass rewrite (commit
60f3f44), to pin its output: `tests/unit/ingest/test_golden.py` feeds the same records to
today's processor and must get the same events, alerts and dead letters. Running it again
on today's code only proves the code agrees with itself; keep the committed files.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deploy.demo_payloads import SOURCES, payload
from ingest.process.correlate import correlate_batch
from ingest.process.dead_letters import DeadLetter
from ingest.process.normalize import HEADER_SIGNATURE, HEADER_WEBHOOK, Position, signing_input
from ingest.process.parse import RawRecord, parse_record
from ingest.webhooks.envelope import sign_envelope
from ingest.webhooks.keys import hash_access_key
from ingest.webhooks.registry import WebhookRegistry
from schemas.webhook import PluginInfo, Webhook, WebhookState

HERE = Path(__file__).parent
SECRET = b"golden-signing-secret"
KEY = "golden-access-key-0123456789012345678901234"
START = datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC)
WINDOW = timedelta(seconds=600)
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
            intake(by_plugin[plugin], json.dumps(payload(plugin, n, resolved=False)).encode())
        for plugin in SOURCES:
            direct(by_plugin[plugin], payload(plugin, n, resolved=n % 2 == 1))
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


async def main() -> None:
    hooks = webhooks()
    registry = WebhookRegistry(Store(hooks))
    inputs = record_inputs(hooks)
    table: dict[bytes, Any] = {}
    events, alerts, letters = [], {}, []
    serialized = []
    for offset, item in enumerate(inputs):
        position = Position("events.raw", offset % 3, offset)
        timestamp = START + timedelta(seconds=offset * 7)
        serialized.append(
            {
                "topic": position.topic,
                "partition": position.partition,
                "offset": position.offset,
                "timestamp_ms": int(timestamp.timestamp() * 1000),
                "value": encode(item["value"]),
                "headers": {k: encode(v) for k, v in item["headers"].items()},
            }
        )
        record = RawRecord(position, timestamp, item["value"], item["headers"])
        outcome = await parse_record(record, registry, SECRET)
        if isinstance(outcome, DeadLetter):
            letters.append({"offset": offset, "code": outcome.code})
            continue
        correlated, batch_alerts, _, states = correlate_batch(outcome, table, WINDOW)
        for key, state in states.items():
            table[key] = state.model_dump_json().encode()
        events += [doc.model_dump(mode="json") for doc in correlated]
        alerts.update({k: a.model_dump(mode="json") for k, a in batch_alerts.items()})
    stored = [h.model_dump(mode="json") for h in hooks.values()]
    given = {"secret": SECRET.decode(), "webhooks": stored, "records": serialized}
    (HERE / "records.json").write_text(json.dumps(given, indent=1) + "\n")
    (HERE / "expected.json").write_text(
        json.dumps({"events": events, "alerts": alerts, "dead_letters": letters}, indent=1) + "\n"
    )
    print(f"{len(inputs)} records -> {len(events)} events, {len(alerts)} alerts, "
          f"{len(letters)} dead letters")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
