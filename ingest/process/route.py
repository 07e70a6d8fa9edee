"""Step 2 of the worker: parsed events routed to the partition of their correlation key and
encoded many to a record for `events.normalized`; and, on the other side of the topic, the
records decoded back into events, and into people's changes to alerts (which the API puts
on the same topic, in the partition of the alert's key: `ingest.process.alert_changes`).

Routing by correlation key puts each key's events and its state (the correlation table,
partitioned alike) on one partition. A record carries a few hundred events
(`normalize.encode_events`), so Kafka and faust pay their per-record cost once per few
hundred events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.kafka.produce import Record, partition_for
from ingest.process.alert_changes import ChangeDoc, decode_change, is_change
from ingest.process.dead_letters import DeadLetter, KeyedLetter
from ingest.process.normalize import (
    InvalidRecord,
    NormalizedEvent,
    Position,
    decode_events,
    encode_events,
)
from schemas.topics import EVENTS_FORMAT, HEADER_FORMAT


def by_partition(
    events: Sequence[NormalizedEvent], partitions: int
) -> dict[int, list[NormalizedEvent]]:
    """Events grouped by the partition of their correlation key (Kafka's default
    partitioner), in order: each key's events and its state meet on one partition."""
    groups: dict[int, list[NormalizedEvent]] = {}
    seen: dict[str, int] = {}
    for event in events:
        partition = seen.get(event.key)
        if partition is None:
            partition = seen[event.key] = partition_for(event.key.encode(), partitions)
        groups.setdefault(partition, []).append(event)
    return groups


def route_events(events: Sequence[NormalizedEvent], partitions: int) -> dict[int, list[Record]]:
    """The `events.normalized` records of a batch's events, by partition."""
    headers = [(HEADER_FORMAT, EVENTS_FORMAT)]
    return {
        partition: [(None, value, headers) for value in encode_events(group)]
        for partition, group in by_partition(events, partitions).items()
    }


@dataclass
class DecodedBatch:
    """The events of a batch of `events.normalized` records, each with the position of the
    record it came in; people's changes to alerts, each after the first n events
    (`(n, change)`), and the partition of each change's key; records that do not decode
    are dead letters."""

    events: list[NormalizedEvent] = field(default_factory=list)
    where: list[Position] = field(default_factory=list)
    letters: list[KeyedLetter] = field(default_factory=list)
    changes: list[tuple[int, ChangeDoc]] = field(default_factory=list)
    change_partitions: dict[bytes, int] = field(default_factory=dict)


def decode_batch(records: Sequence[tuple[Position, bytes | None]]) -> DecodedBatch:
    """The events and changes of a batch of records, in order."""
    out = DecodedBatch()
    for position, value in records:
        try:
            if value is not None and is_change(value):
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
