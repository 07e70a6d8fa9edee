"""Today's processor makes the same events, alerts and dead letters as the one before it.

`tests/golden/` holds 60 raw records (every source, through the intake and directly, and
odd ones) and what the processor before the single-pass rewrite made of them (see
`tests/golden/generate.py`). Here the same records go through today's steps (parse, the
`events.normalized` record format, correlation, the alert id set in the document; the
generator's `process`), one record at a time and as one batch, and must come out the same;
and the generator, run in memory, must write exactly the committed files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.process.parse import RawRecord
from ingest.webhooks.registry import WebhookRegistry
from schemas.webhook import Webhook
from tests.golden.generate import Store, generate, process, raw_records

GOLDEN = Path(__file__).parents[2] / "golden"


def golden_input() -> tuple[bytes, WebhookRegistry, list[tuple[RawRecord, bytes | None]]]:
    """The committed records: the signing secret, the webhooks' registry, the raw records."""
    given = json.loads((GOLDEN / "records.json").read_text())
    hooks = [Webhook.model_validate(w) for w in given["webhooks"]]
    registry = WebhookRegistry(Store({hook.webhook_id: hook for hook in hooks}))
    return given["secret"].encode(), registry, raw_records(given["records"])


@pytest.mark.parametrize("batching", ["record by record", "one batch"])
async def test_the_same_records_make_the_same_events_alerts_and_dead_letters(
    batching: str,
) -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    secret, registry, records = golden_input()
    batches = [[r] for r in records] if batching == "record by record" else [records]
    got = await process(batches, secret, registry)
    by_id = {e["event_id"]: e for e in got.events}
    assert len(by_id) == len(got.events) == len(expected["events"]) == 56
    for want in expected["events"]:
        assert by_id[want["event_id"]] == want
    # The pinned alerts held the correlation fields only; alerts now carry AlertInfo's too.
    assert set(got.alerts) == set(expected["alerts"])
    for alert_id, want in expected["alerts"].items():
        assert {name: got.alerts[alert_id][name] for name in want} == want
    assert got.dead_letters == expected["dead_letters"]


async def test_the_generator_writes_exactly_the_committed_files() -> None:
    """`python -m tests.golden.generate` runs, and today's steps write the pinned files."""
    records, expected = await generate()
    assert records == (GOLDEN / "records.json").read_text()
    assert expected == (GOLDEN / "expected.json").read_text()
