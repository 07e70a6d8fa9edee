"""Today's processor makes the same events, alerts and dead letters as the one before it.

`tests/golden/` holds 60 raw records (every source, through the intake and directly, and
odd ones) and what the processor before the single-pass rewrite made of them (see
`tests/golden/generate.py`). Here the same records go through today's stages — parse,
the `events.normalized` record format, correlation, the alert id set in the document —
one record at a time and as one batch, and must come out the same.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.process.correlate import correlate_batch
from ingest.process.normalize import Position, decode_events, encode_events, with_alert_id
from ingest.process.parse import RawRecord, parse_batch
from ingest.process.route import by_partition
from ingest.webhooks.registry import WebhookRegistry
from schemas.webhook import Webhook

GOLDEN = Path(__file__).parents[2] / "golden"
WINDOW = timedelta(seconds=600)


class Store:
    def __init__(self, webhooks: list[dict[str, Any]]) -> None:
        self.records = {w["webhook_id"]: Webhook.model_validate(w) for w in webhooks}

    async def find(self, webhook_id: str) -> Webhook | None:
        return self.records.get(webhook_id)


def raw_records() -> tuple[bytes, WebhookRegistry, list[tuple[RawRecord, bytes | None]]]:
    given = json.loads((GOLDEN / "records.json").read_text())
    records = []
    for r in given["records"]:
        position = Position(r["topic"], r["partition"], r["offset"])
        timestamp = datetime.fromtimestamp(r["timestamp_ms"] / 1000, UTC)
        headers = {k: base64.b64decode(v) for k, v in r["headers"].items()}
        record = RawRecord(position, timestamp, base64.b64decode(r["value"]), headers)
        records.append((record, None))
    return given["secret"].encode(), WebhookRegistry(Store(given["webhooks"])), records


async def process(batches: list[list[tuple[RawRecord, bytes | None]]], secret: bytes,
                  registry: WebhookRegistry) -> dict[str, Any]:  # fmt: skip
    table: dict[bytes, bytes] = {}
    events: list[dict[str, Any]] = []
    alerts: dict[str, Any] = {}
    letters = []
    for batch in batches:
        parsed = await parse_batch(batch, registry, secret, lambda: False)
        letters += [{"offset": letter.position.offset, "code": letter.code}
                    for _, letter in parsed.letters]  # fmt: skip
        # Through the topic's record format, a record per partition, as the worker sends.
        for _, group in sorted(by_partition(parsed.events, 4).items()):
            travelled = [e for value in encode_events(group) for e in decode_events(value)]
            out = correlate_batch(travelled, table, WINDOW)
            table.update({key: orjson.dumps(state) for key, state in out.states.items()})
            events += [json.loads(with_alert_id(e.doc, alert_id))
                       for e, alert_id in zip(travelled, out.alert_ids, strict=True)]  # fmt: skip
            alerts.update(out.alerts)
    return {"events": events, "alerts": alerts, "dead_letters": letters}


@pytest.mark.parametrize("batching", ["record by record", "one batch"])
async def test_the_same_records_make_the_same_events_alerts_and_dead_letters(
    batching: str,
) -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    secret, registry, records = raw_records()
    batches = [[r] for r in records] if batching == "record by record" else [records]
    got = await process(batches, secret, registry)
    by_id = {e["event_id"]: e for e in got["events"]}
    assert len(by_id) == len(got["events"]) == len(expected["events"]) == 56
    for want in expected["events"]:
        assert by_id[want["event_id"]] == want
    # The pinned alerts held the correlation fields only; alerts now carry AlertInfo's too.
    assert set(got["alerts"]) == set(expected["alerts"])
    for alert_id, want in expected["alerts"].items():
        assert {name: got["alerts"][alert_id][name] for name in want} == want
    assert got["dead_letters"] == expected["dead_letters"]
