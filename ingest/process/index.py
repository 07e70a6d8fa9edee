"""Stage 2 of the processor: correlate a batch of events, then index events and alerts.

Input is records of `events.normalized`, each carrying many events of one partition
(`normalize.encode_events`). Correlation state lives in the worker's table, keyed like
the topic, so each key's state sits with its events. The stage returns only once Kafka
has acknowledged the new states (the table's changelog) and Elasticsearch every event
and alert — the caller acks the batch after it, and only then. Events Elasticsearch
refuses for good go to the dead-letter topic with the reason, and so does an event whose
id Elasticsearch already holds for a different event (`ERROR_ID_CONFLICT`). A sender's
retry of an event already written (SPEC §4.6) is dropped before indexing and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.bulk import create_action, daily_index, index_action, same_event
from ingest.elasticsearch.writer import read_stored, write_bulk
from ingest.process.correlate import State, correlate_batch
from ingest.process.normalize import (
    InvalidRecord,
    NormalizedEvent,
    Position,
    decode_events,
    with_alert_id,
)
from ingest.process.parse import DeadLetter

# (states, the partition of each key's events): the changelog partition of each state
StoreStates = Callable[[dict[bytes, bytes], dict[bytes, int]], Awaitable[None]]


@dataclass
class IndexOutcome:
    """What a batch came to: counts for the metrics, and dead letters to produce."""

    events: int = 0
    indexed: int = 0
    duplicates: int = 0  # replays: Elasticsearch had the same event under its id
    deduplicated: int = 0  # senders' retries dropped (SPEC §4.6)
    conflicts: int = 0  # an id Elasticsearch holds for another event: dead letters
    retried: int = 0
    orphans: int = 0
    newest: str = ""  # the newest created_at of the batch (the clock quiet keys go by)
    letters: list[tuple[bytes | None, DeadLetter]] = field(default_factory=list)


def decode_batch(
    records: Sequence[tuple[Position, bytes | None]],
) -> tuple[list[NormalizedEvent], list[Position], list[tuple[bytes | None, DeadLetter]]]:
    """The events of a batch of records, each with its position (record, index within)."""
    events: list[NormalizedEvent] = []
    where: list[Position] = []
    letters: list[tuple[bytes | None, DeadLetter]] = []
    for position, value in records:
        try:
            decoded = decode_events(value or b"")
        except InvalidRecord as invalid:
            letters.append((None, DeadLetter(position, value, invalid.code, invalid.reason)))
            continue
        events += decoded
        where += [position] * len(decoded)
    return events, where, letters


async def index_batch(
    records: Sequence[tuple[Position, bytes | None]],
    *,
    es: AsyncElasticsearch,
    table: Mapping[bytes, Any],
    store_states: StoreStates,
    events_prefix: str,
    alerts_index: str,
    window: timedelta,
    stopping: Callable[[], bool],
) -> IndexOutcome:
    """Correlate the events of `records` against `table`, store the new states
    (`store_states`: the table and its changelog), index the events and alerts; return
    once all three are acknowledged."""
    decoded, decoded_at, letters = decode_batch(records)
    batch = correlate_batch(decoded, table, window)
    # The events to write: all but the senders' retries (no alert id).
    kept = [(e, at, a) for e, at, a in zip(decoded, decoded_at, batch.alert_ids, strict=True)
            if a is not None]  # fmt: skip
    events = [e for e, _, _ in kept]
    where = [at for _, at, _ in kept]
    docs = [with_alert_id(e.doc, alert_id) for e, _, alert_id in kept]
    indices = [daily_index(events_prefix, e.created_at) for e in events]
    items = [
        (create_action(index, e.event_id), doc)
        for e, index, doc in zip(events, indices, docs, strict=True)
    ]
    alert_items = [
        (index_action(alerts_index, alert_id), orjson.dumps(alert))
        for alert_id, alert in batch.alerts.items()
    ]
    states = {key: encode_state(state) for key, state in batch.states.items()}
    # A key's events all came on one partition: its state goes to that changelog partition.
    partitions = {
        event.key.encode(): at.partition for event, at in zip(decoded, decoded_at, strict=True)
    }
    # Two independent writes, each retried until done, waited for together: the states
    # (Kafka), and the events with their alerts in one bulk request (Elasticsearch).
    _, written = await asyncio.gather(
        store_states(states, partitions),
        write_bulk(es, items + alert_items, stopping),
    )
    n = len(items)
    duplicates = [i for i in written.duplicates if i < n]
    stored = await read_stored(es, [(indices[i], events[i].event_id) for i in duplicates], stopping)
    conflicts = [i for i, doc in zip(duplicates, stored, strict=True)
                 if doc is not None and not same_event(docs[i], doc)]  # fmt: skip
    outcome = IndexOutcome(
        events=len(decoded),
        indexed=sum(1 for i in written.done if i < n) - len(duplicates),
        duplicates=len(duplicates) - len(conflicts),
        deduplicated=batch.retries,
        conflicts=len(conflicts),
        retried=written.retried,
        orphans=batch.orphans,
        newest=max((e.created_at for e in decoded), default=""),
        letters=letters,
    )
    for i in conflicts:
        reason = (f"{indices[i]} already holds another event under id {events[i].event_id}: "
                  "kept as it is, this one not indexed")  # fmt: skip
        letter = DeadLetter(where[i], docs[i], "ERROR_ID_CONFLICT", reason)
        outcome.letters.append((events[i].key.encode(), letter))
    for i, reason in written.dead:
        if i < n:
            letter = DeadLetter(where[i], docs[i], "ERROR_INDEX", reason)
            outcome.letters.append((events[i].key.encode(), letter))
            continue
        i -= n
        key = alert_items[i][0]
        outcome.letters.append((None, DeadLetter(where[0], alert_items[i][1], "ERROR_INDEX_ALERT",
                                                 f"{key.decode()}: {reason}")))  # fmt: skip
    return outcome


def encode_state(state: State) -> bytes:
    """A key's state as the table and its changelog hold it: JSON bytes (what faust's json
    value codec reads back on recovery).

    Copied to its own size: a bytes object from orjson keeps the 4 KiB capacity of its
    write buffer, ten times a state's size, and the table holds one per live key.
    """
    return bytes(memoryview(orjson.dumps(state)))
