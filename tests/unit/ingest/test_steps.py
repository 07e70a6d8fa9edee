"""The worker's steps chained without Kafka: the golden records through the parse stage
(into a list standing where the producer stands), across the topic's record format, then
correlate, store states and the index step's documents; every output the worker would
send is checked against the golden expectation."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ingest.elasticsearch.bulk import BulkResult
from ingest.kafka.produce import Record, partition_for
from ingest.process.correlate import correlate_batch
from ingest.process.dead_letters import DeadLetter, dead_letter_record
from ingest.process.flow import ParseStage
from ingest.process.index import documents, outcome_of
from ingest.process.normalize import Position
from ingest.process.route import decode_batch
from ingest.process.states import StateStore, changelog_partitions, encode_state
from schemas.topics import EVENTS_FORMAT, HEADER_FORMAT
from tests.unit.ingest.test_golden import GOLDEN, golden_input

PARTITIONS = 4
WINDOW = timedelta(seconds=600)


class Records:
    """Records kept in memory, per topic, a list per call (one call: one acknowledged
    batch); `send_all` partitions by key as the producer does."""

    def __init__(self, partitions: int = PARTITIONS) -> None:
        self.partitions = partitions
        self.sent: dict[str, list[dict[int, list[Record]]]] = defaultdict(list)

    async def partition_count(self, topic: str) -> int:
        return self.partitions

    async def send_all(self, topic: str, records: Sequence[Record]) -> None:
        grouped: dict[int, list[Record]] = defaultdict(list)
        for n, record in enumerate(records):
            key = record[0]
            at = n % self.partitions if key is None else partition_for(key, self.partitions)
            grouped[at].append(record)
        await self.send_to_partitions(topic, grouped)

    async def send_to_partitions(
        self, topic: str, by_partition: Mapping[int, Sequence[Record]]
    ) -> None:
        self.sent[topic].append({p: list(records) for p, records in by_partition.items()})

    def of(self, topic: str) -> list[tuple[int, Record]]:
        return [(p, r) for call in self.sent[topic] for p, rs in call.items() for r in rs]


async def test_a_batch_step_by_step_makes_the_golden_events_alerts_and_dead_letters() -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text())
    secret, registry, records = golden_input()
    out = Records()
    parse = ParseStage(registry, None, secret, out, "normalized", "dlq", lambda: False)
    parsed = await parse.run(records)

    # Dead letters: the original bytes, the code and the source position in the headers.
    letters = sorted(
        (int(dict(r[2])["eventpipe-source-offset"]), dict(r[2])["eventpipe-error-code"].decode())
        for _, r in out.of("dlq")
    )
    assert letters == sorted((want["offset"], want["code"]) for want in expected["dead_letters"])
    # Routed: each key on the partition of its correlation key, many events to a record.
    normalized = out.of("normalized")
    assert all(r[2] == [(HEADER_FORMAT, EVENTS_FORMAT)] for _, r in normalized)
    assert len(normalized) <= PARTITIONS < len(parsed.events)

    table: dict[bytes, bytes] = {}
    states = StateStore(lambda: table, "changelog", out, lambda: False)
    events: dict[str, Any] = {}
    alerts: dict[str, Any] = {}
    for partition, (_, value, _) in sorted(normalized, key=lambda item: item[0]):
        decoded = decode_batch([(Position("normalized", partition, 0), value)])
        assert not decoded.letters
        assert {partition_for(e.key.encode(), PARTITIONS) for e in decoded.events} == {partition}
        correlated = correlate_batch(decoded.events, states.table, WINDOW)
        encoded = {key: encode_state(state) for key, state in correlated.states.items()}
        await states.write(encoded, changelog_partitions(decoded.events, decoded.where))
        docs = documents(decoded.events, decoded.where, correlated, "ev", "al")
        events.update({json.loads(doc)["event_id"]: json.loads(doc) for _, doc in docs.events})
        alerts.update({json.loads(doc)["alert_id"]: json.loads(doc) for _, doc in docs.alerts})
        # A state goes to the changelog partition of its key's events.
        assert {p for p, _ in out.sent["changelog"][-1].items()} == {partition}

    assert len(events) == len(expected["events"]) == 56
    for want in expected["events"]:
        assert events[want["event_id"]] == want
    # The pinned alerts held the correlation fields only; alerts now carry AlertInfo's too.
    assert set(alerts) == set(expected["alerts"])
    for alert_id, want in expected["alerts"].items():
        assert {name: alerts[alert_id][name] for name in want} == want
    assert {key: orjson.loads(value) for key, value in table.items()} == {
        key: orjson.loads(value) for _, (key, value, _) in out.of("changelog")
    }


async def test_an_undecodable_record_is_a_dead_letter_and_the_rest_goes_on() -> None:
    decoded = decode_batch(
        [(Position("n", 1, 7), b"not an events batch"), (Position("n", 1, 8), None)]
    )
    assert decoded.events == []
    assert [(key, letter.code, letter.position.offset) for key, letter in decoded.letters] == [
        (None, "ERROR_INVALID_EVENT", 7), (None, "ERROR_INVALID_EVENT", 8)
    ]  # fmt: skip


async def test_refused_documents_become_dead_letters_with_the_reason() -> None:
    secret, registry, records = golden_input()
    out = Records()
    await ParseStage(registry, None, secret, out, "normalized", "dlq", lambda: False).run(records)
    partition, (_, value, _) = out.of("normalized")[0]
    decoded = decode_batch([(Position("normalized", partition, 3), value)])
    correlated = correlate_batch(decoded.events, {}, WINDOW)
    docs = documents(decoded.events, decoded.where, correlated, "ev", "al")
    n = len(docs.events)
    written = BulkResult(done=list(range(1, n)), duplicates=[1], retried=2,
                         dead=[(0, "mapper_parsing_exception"), (n, "alert refused")])  # fmt: skip
    outcome = outcome_of(docs, written)
    assert (outcome.events, outcome.indexed, outcome.duplicates, outcome.retried) == (
        n, n - 2, 1, 2
    )  # fmt: skip
    (event_key, event_letter), (alert_key, alert_letter) = outcome.letters
    assert event_key == decoded.events[0].key.encode()
    assert (event_letter.code, event_letter.reason) == ("ERROR_INDEX", "mapper_parsing_exception")
    assert event_letter.value == docs.events[0][1]
    assert alert_key is None and alert_letter.code == "ERROR_INDEX_ALERT"
    assert alert_letter.reason.endswith(": alert refused")


async def test_forgetting_quiet_keys_writes_tombstones_after_their_states() -> None:
    out = Records()
    table: dict[bytes, Any] = {}
    states = StateStore(lambda: table, "changelog", out, lambda: False)
    quiet = {"alert": None, "last_trigger_at": "2024-01-01T00:00:00.000Z", "decisions": {}}
    busy = {"alert": None, "last_trigger_at": "2024-01-02T00:00:00.000Z", "decisions": {}}
    await states.write({b"quiet": encode_state(quiet), b"busy": encode_state(busy)})
    forgotten = await states.forget_quiet(datetime(2024, 1, 1, 12, tzinfo=UTC))
    assert forgotten == 1 and set(table) == {b"busy"}
    sent = [(key, value) for _, (key, value, _) in out.of("changelog")]
    assert sent[-1] == (b"quiet", None)
    assert sent.index((b"quiet", encode_state(quiet))) < len(sent) - 1


def test_a_dead_letter_record_carries_the_original_bytes_and_why() -> None:
    letter = DeadLetter(Position("events.raw", 2, 40), b"{bad", "ERROR_PARSE", "x" * 5000)
    key, value, headers = dead_letter_record(b"k", letter)
    assert (key, value) == (b"k", b"{bad")
    named = dict(headers)
    assert named["eventpipe-error-code"] == b"ERROR_PARSE"
    assert len(named["eventpipe-error-reason"]) == 4096
    assert (named["eventpipe-source-topic"], named["eventpipe-source-partition"],
            named["eventpipe-source-offset"]) == (b"events.raw", b"2", b"40")  # fmt: skip
