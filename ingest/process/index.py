"""Stage 2 of the processor: correlate a batch of events, then index events and alerts.

Input is records of `events.normalized`, each carrying many events of one partition
(`normalize.encode_events`). Correlation state lives in the worker's table, keyed like
the topic, so each key's state sits with its events. The stage returns only once Kafka
has acknowledged the new states (the table's changelog) and Elasticsearch every event
and alert — the caller acks the batch after it, and only then. Events Elasticsearch
refuses for good go to the dead-letter topic with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.bulk import create_action, daily_index, index_action
from ingest.elasticsearch.writer import write_bulk
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
    duplicates: int = 0
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
    events, where, letters = decode_batch(records)
    batch = correlate_batch(events, table, window)
    docs = [
        with_alert_id(e.doc, alert_id) for e, alert_id in zip(events, batch.alert_ids, strict=True)
    ]
    items = [
        (create_action(daily_index(events_prefix, e.created_at), e.event_id), doc)
        for e, doc in zip(events, docs, strict=True)
    ]
    alert_items = [
        (index_action(alerts_index, alert_id), orjson.dumps(alert))
        for alert_id, alert in batch.alerts.items()
    ]
    states = {key: encode_state(state) for key, state in batch.states.items()}
    # A key's events all came on one partition: its state goes to that changelog partition.
    partitions = {event.key.encode(): at.partition for event, at in zip(events, where, strict=True)}
    # Three independent writes, each retried until done, waited for together.
    _, indexed, alerted = await asyncio.gather(
        store_states(states, partitions),
        write_bulk(es, items, stopping),
        write_bulk(es, alert_items, stopping),
    )
    outcome = IndexOutcome(
        events=len(events),
        indexed=indexed.created,
        duplicates=indexed.duplicates,
        retried=indexed.retried,
        orphans=batch.orphans,
        newest=max((e.created_at for e in events), default=""),
        letters=letters,
    )
    for i, reason in indexed.dead:
        letter = DeadLetter(where[i], docs[i], "ERROR_INDEX", reason)
        outcome.letters.append((events[i].key.encode(), letter))
    for i, reason in alerted.dead:
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
