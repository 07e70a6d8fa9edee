"""Step 5 of the worker: the batch's events (each with its alert id) and the alerts it
changed (or deleted), written to Elasticsearch in one bulk request, retried per item until
each is acknowledged or dead.

Events are created (`create`: a replay of a batch creates nothing twice, its 409s count as
duplicates) in the daily index of their created_at; alerts are indexed whole by id (the
latest state wins). A document Elasticsearch refuses for good becomes a dead letter with
the reason; the rest of its batch is indexed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.bulk import create_action, daily_index, delete_action, index_action
from ingest.elasticsearch.writer import BulkResult, write_bulk
from ingest.process.correlate import CorrelatedBatch
from ingest.process.dead_letters import DeadLetter, KeyedLetter
from ingest.process.normalize import NormalizedEvent, Position, with_alert_id


@dataclass
class IndexOutcome:
    """What a batch came to: counts for the metrics, and dead letters to produce."""

    events: int = 0
    indexed: int = 0
    duplicates: int = 0
    retried: int = 0
    orphans: int = 0
    newest: str = ""  # the newest created_at of the batch (the clock quiet keys go by)
    letters: list[KeyedLetter] = field(default_factory=list)


@dataclass
class Documents:
    """A batch's bulk items, (action, document) pairs: its events first, then its alerts;
    with each event's key and the position of the record it came in (for dead letters)."""

    events: list[tuple[bytes, bytes]]
    alerts: list[tuple[bytes, bytes]]
    keys: list[bytes]
    where: list[Position]


def documents(
    events: Sequence[NormalizedEvent],
    where: Sequence[Position],
    correlated: CorrelatedBatch,
    events_prefix: str,
    alerts_index: str,
    deleted: Sequence[str] = (),
) -> Documents:
    """The bulk items of a correlated batch: each event with its alert id set, the alerts
    it changed, and deletes of the alerts people deleted."""
    items = [
        (create_action(daily_index(events_prefix, e.created_at), e.event_id),
         with_alert_id(e.doc, alert_id))
        for e, alert_id in zip(events, correlated.alert_ids, strict=True)
    ]  # fmt: skip
    return Documents(
        events=items,
        alerts=[
            (index_action(alerts_index, alert_id), orjson.dumps(alert))
            for alert_id, alert in correlated.alerts.items()
        ]
        + [(delete_action(alerts_index, alert_id), b"") for alert_id in deleted],
        keys=[e.key.encode() for e in events],
        where=list(where),
    )


def outcome_of(docs: Documents, written: BulkResult) -> IndexOutcome:
    """Counts and dead letters of a bulk write of `docs` (events before alerts)."""
    n = len(docs.events)
    duplicates = sum(1 for i in written.duplicates if i < n)
    outcome = IndexOutcome(
        events=n,
        indexed=sum(1 for i in written.done if i < n) - duplicates,
        duplicates=duplicates,
        retried=written.retried,
    )
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
    """Write the batch's documents; return once Elasticsearch acknowledged or refused each."""
    written = await write_bulk(es, docs.events + docs.alerts, stopping)
    return outcome_of(docs, written)
