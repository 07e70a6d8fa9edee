"""Step 5 of the worker: the batch's events (each with its alert id) and the alerts it
changed (or deleted), written to Elasticsearch in one bulk request, retried per item until
each is acknowledged or dead.

Events are created (`create`: a replay of a batch creates nothing twice) in the daily
index of their created_at; alerts are indexed whole by id (the latest state wins). A 409
counts as a duplicate only once the stored document is read back and found to be the same
event; another event under the id is a dead letter (`ERROR_ID_CONFLICT`), never a silent
duplicate. A sender's retry (SPEC §4.6; correlation gave it no alert id) is not written.
A document Elasticsearch refuses for good becomes a dead letter with the reason; the rest
of its batch is indexed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.bulk import (
    BulkResult,
    create_action,
    daily_index,
    delete_action,
    index_action,
    same_event,
)
from ingest.elasticsearch.writer import read_stored, write_bulk
from ingest.process.correlate import CorrelatedBatch
from ingest.process.dead_letters import DeadLetter, KeyedLetter
from ingest.process.normalize import NormalizedEvent, Position, with_alert_id


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
    letters: list[KeyedLetter] = field(default_factory=list)


@dataclass
class Documents:
    """A batch's bulk items, (action, document) pairs: its events first, then its alerts;
    with each event's key and the position of the record it came in (for dead letters),
    and its (index, id) (to read back what a 409 found)."""

    events: list[tuple[bytes, bytes]]
    alerts: list[tuple[bytes, bytes]]
    keys: list[bytes]
    where: list[Position]
    refs: list[tuple[str, str]] = field(default_factory=list)


def documents(
    events: Sequence[NormalizedEvent],
    where: Sequence[Position],
    correlated: CorrelatedBatch,
    events_prefix: str,
    alerts_index: str,
    deleted: Sequence[str] = (),
) -> Documents:
    """The bulk items of a correlated batch: each event with its alert id set, but the
    senders' retries correlation dropped (no alert id); the alerts it changed, and deletes
    of the alerts people deleted."""
    kept = [(e, at, alert_id)
            for e, at, alert_id in zip(events, where, correlated.alert_ids, strict=True)
            if alert_id is not None]  # fmt: skip
    refs = [(daily_index(events_prefix, e.created_at), e.event_id) for e, _, _ in kept]
    return Documents(
        events=[
            (create_action(index, event_id), with_alert_id(e.doc, alert_id))
            for (index, event_id), (e, _, alert_id) in zip(refs, kept, strict=True)
        ],
        alerts=[
            (index_action(alerts_index, alert_id), orjson.dumps(alert))
            for alert_id, alert in correlated.alerts.items()
        ]
        + [(delete_action(alerts_index, alert_id), b"") for alert_id in deleted],
        keys=[e.key.encode() for e, _, _ in kept],
        where=[at for _, at, _ in kept],
        refs=refs,
    )


def conflicts_of(
    docs: Documents, duplicates: Sequence[int], stored: Sequence[Mapping[str, Any] | None]
) -> list[int]:
    """Which of the events Elasticsearch refused as already there (`duplicates`, with the
    documents it holds under their ids, `stored`) are other events under the same id.
    A document gone since (None) is no conflict."""
    return [i for i, doc in zip(duplicates, stored, strict=True)
            if doc is not None and not same_event(docs.events[i][1], doc)]  # fmt: skip


def outcome_of(docs: Documents, written: BulkResult, conflicts: Sequence[int] = ()) -> IndexOutcome:
    """Counts and dead letters of a bulk write of `docs` (events before alerts), given which
    of its 409s were `conflicts`."""
    n = len(docs.events)
    duplicates = sum(1 for i in written.duplicates if i < n)
    outcome = IndexOutcome(
        events=n,
        indexed=sum(1 for i in written.done if i < n) - duplicates,
        duplicates=duplicates - len(conflicts),
        conflicts=len(conflicts),
        retried=written.retried,
    )
    for i in conflicts:
        index, event_id = docs.refs[i]
        reason = f"{index} holds another event under id {event_id}: kept, this one not indexed"
        letter = DeadLetter(docs.where[i], docs.events[i][1], "ERROR_ID_CONFLICT", reason)
        outcome.letters.append((docs.keys[i], letter))
    for i, reason in written.dead:
        if i < n:
            letter = DeadLetter(docs.where[i], docs.events[i][1], "ERROR_INDEX", reason)
            outcome.letters.append((docs.keys[i], letter))
            continue
        action, alert = docs.alerts[i - n]
        outcome.letters.append((None, DeadLetter(docs.where[0], alert, "ERROR_INDEX_ALERT",
                                                 f"{action.decode()}: {reason}")))  # fmt: skip
    return outcome


async def index_documents(
    es: AsyncElasticsearch, docs: Documents, stopping: Callable[[], bool]
) -> IndexOutcome:
    """Write the batch's documents; return once Elasticsearch acknowledged or refused each.
    The documents found already there are read back (one request, only for those)."""
    written = await write_bulk(es, docs.events + docs.alerts, stopping)
    duplicates = [i for i in written.duplicates if i < len(docs.events)]
    stored = await read_stored(es, [docs.refs[i] for i in duplicates], stopping)
    return outcome_of(docs, written, conflicts_of(docs, duplicates, stored))
