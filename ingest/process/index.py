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

from ingest.elasticsearch.alerts import load_alerts, number_alerts
from ingest.elasticsearch.bulk import create_action, daily_index, delete_action, index_action
from ingest.elasticsearch.writer import write_bulk
from ingest.process.alert_changes import (
    ChangeDoc,
    correlate_with_changes,
    decode_change,
    is_change,
)
from ingest.process.correlate import State
from ingest.process.normalize import (
    InvalidRecord,
    NormalizedEvent,
    Position,
    decode_events,
    with_alert_id,
)
from ingest.process.parse import DeadLetter
from ingest.retry import retry

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


@dataclass
class DecodedBatch:
    """The events of a batch of records, each with its position; people's changes to alerts,
    each after the first n events (`(n, change)`), with the partition of each change's key;
    records that do not decode, as dead letters."""

    events: list[NormalizedEvent] = field(default_factory=list)
    where: list[Position] = field(default_factory=list)
    letters: list[tuple[bytes | None, DeadLetter]] = field(default_factory=list)
    changes: list[tuple[int, ChangeDoc]] = field(default_factory=list)
    change_partitions: dict[bytes, int] = field(default_factory=dict)


def decode_batch(records: Sequence[tuple[Position, bytes | None]]) -> DecodedBatch:
    """The events and changes of a batch of records, in order."""
    out = DecodedBatch()
    for position, value in records:
        try:
            if is_change(value):
                assert value is not None
                change = decode_change(value)
                out.changes.append((len(out.events), change))
                out.change_partitions[change["correlation_key"].encode()] = position.partition
                continue
            decoded = decode_events(value or b"")
        except InvalidRecord as invalid:
            out.letters.append((None, DeadLetter(position, value, invalid.code, invalid.reason)))
            continue
        out.events += decoded
        out.where += [position] * len(decoded)
    return out


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
    numbers_index: str = "",
) -> IndexOutcome:
    """Correlate the events of `records` against `table` and apply the alert changes among
    them, number the alerts opened, store the new states (`store_states`: the table and its
    changelog), index the events and alerts; return once all three are acknowledged."""
    decoded = decode_batch(records)
    events, where, letters = decoded.events, decoded.where, decoded.letters
    targets = {change["alert_id"] for _, change in decoded.changes}
    stored = await retry(lambda: load_alerts(es, alerts_index, targets), "reading alerts",
                         stopping) if targets else {}  # fmt: skip
    batch, deleted = correlate_with_changes(events, decoded.changes, table, window, stored)
    opened = [*batch.alerts.values(), *(s["alert"] for s in batch.states.values())]
    if numbers_index and any(a is not None and a.get("alert_number") == 0 for a in opened):
        await retry(lambda: number_alerts(es, numbers_index, opened), "numbering alerts",
                    stopping)  # fmt: skip
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
    ] + [(delete_action(alerts_index, alert_id), b"") for alert_id in deleted]
    states = {key: encode_state(state) for key, state in batch.states.items()}
    # A key's events (and changes) all came on one partition: its state goes to that
    # changelog partition.
    partitions = dict(decoded.change_partitions)
    for event, at in zip(events, where, strict=True):
        partitions[event.key.encode()] = at.partition
    # Two independent writes, each retried until done, waited for together: the states
    # (Kafka), and the events with their alerts in one bulk request (Elasticsearch).
    _, written = await asyncio.gather(
        store_states(states, partitions),
        write_bulk(es, items + alert_items, stopping),
    )
    n = len(items)
    duplicates = sum(1 for i in written.duplicates if i < n)
    outcome = IndexOutcome(
        events=len(events),
        indexed=sum(1 for i in written.done if i < n) - duplicates,
        duplicates=duplicates,
        retried=written.retried,
        orphans=batch.orphans,
        newest=max((e.created_at for e in events), default=""),
        letters=letters,
    )
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
