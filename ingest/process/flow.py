"""A batch through the worker, step by step: the two stages as chains of the steps.

    events.raw ─▶ 1 parse (1b event rules) ─▶ 2 route and encode ─▶ events.normalized
    events.normalized ─▶ 2 decode ─▶ 3 correlate ─▶ 4 store states ┐
                      (events and      (and apply  └▶ 5 index ──────┴▶ acked
                       alert changes)   the changes; number new alerts)
    any step ─▶ 6 dead letters ─▶ events.dlq

Each stage returns only once everything it wrote is acknowledged (Kafka, Elasticsearch),
so the caller may ack or commit the batch after it, and only then. The stages hold their
clients as typed fields and take their input as plain values: they run without Kafka
(`RecordSink` is any object with its three calls) and the worker (`worker.py`) only feeds
them from Kafka and faust.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.alerts import load_alerts, number_alerts
from ingest.metrics import (
    EVENTS_DEDUPLICATED,
    EVENTS_DUPLICATE,
    EVENTS_INDEXED,
    EVENTS_PRODUCED,
    EVENTS_RETRIED,
    ORPHAN_RECOVERIES,
    RECORDS_RECEIVED,
)
from ingest.process.alert_changes import correlate_with_changes
from ingest.process.correlate import CorrelatedBatch
from ingest.process.dead_letters import send_dead_letters
from ingest.process.index import IndexOutcome, documents, index_documents
from ingest.process.normalize import Position
from ingest.process.parse import ParsedBatch, RawRecord, parse_batch
from ingest.process.route import DecodedBatch, decode_batch, route_events
from ingest.process.rules import RuleSource
from ingest.process.sink import RecordSink
from ingest.process.states import StateStore, changelog_partitions, encode_state
from ingest.retry import retry
from ingest.webhooks.registry import WebhookRegistry

log = logging.getLogger("eventpipe.worker")


@dataclass
class ParseStage:
    """events.raw → events.normalized (and events.dlq)."""

    registry: WebhookRegistry
    rules: RuleSource | None  # 1b: applied to each event's document as parse builds it
    secret: bytes
    out: RecordSink
    normalized: str  # topic
    dlq: str  # topic
    stopping: Callable[[], bool]
    # SPEC §4.6: the duplicate window of webhooks that set none (0: off)
    duplicate_window: float = 0.0

    async def run(self, records: Sequence[tuple[RawRecord, bytes | None]]) -> ParsedBatch:
        """Parse a batch of (raw record, key); return once Kafka acknowledged all of it."""
        parsed = await parse_batch(records, self.registry, self.secret, self.stopping,
                                   duplicate_window=self.duplicate_window,
                                   rules=self.rules)  # 1, 1b  # fmt: skip
        partitions = await self.out.partition_count(self.normalized)
        routed = route_events(parsed.events, partitions)  # 2
        await asyncio.gather(
            retry(lambda: self.out.send_to_partitions(self.normalized, routed),
                  "producing events", self.stopping),
            send_dead_letters(self.out, self.dlq, parsed.letters, self.stopping),  # 6
        )  # fmt: skip
        RECORDS_RECEIVED.inc(len(records))
        EVENTS_PRODUCED.inc(len(parsed.events))
        return parsed


@dataclass
class IndexStage:
    """events.normalized → correlation states (table + changelog) and Elasticsearch."""

    es: AsyncElasticsearch
    states: StateStore
    out: RecordSink
    events_prefix: str
    alerts_index: str
    dlq: str  # topic
    window: timedelta
    stopping: Callable[[], bool]
    numbers_index: str = ""  # the alert number counters ("": alerts left unnumbered)

    async def run(self, records: Sequence[tuple[Position, bytes | None]]) -> IndexOutcome:
        """Correlate and index a batch of (position, value) of events.normalized, applying
        the alert changes among them; return once the states, the events and alerts, and
        the dead letters are all acknowledged."""
        decoded = decode_batch(records)  # 2
        correlated, deleted = await self.correlate(decoded)  # 3
        states = {key: encode_state(state) for key, state in correlated.states.items()}
        docs = documents(decoded.events, decoded.where, correlated, self.events_prefix,
                         self.alerts_index, deleted)  # fmt: skip
        partitions = changelog_partitions(decoded.events, decoded.where)
        partitions = {**decoded.change_partitions, **partitions}
        # Two independent writes, each retried until done, waited for together: the states
        # (Kafka), and the events with their alerts in one bulk request (Elasticsearch).
        _, outcome = await asyncio.gather(
            self.states.write(states, partitions),  # 4
            index_documents(self.es, docs, self.stopping),  # 5
        )
        outcome.events = len(decoded.events)
        outcome.deduplicated = correlated.retries
        outcome.orphans = correlated.orphans
        outcome.newest = max((e.created_at for e in decoded.events), default="")
        outcome.letters[:0] = decoded.letters
        await send_dead_letters(self.out, self.dlq, outcome.letters, self.stopping)  # 6
        EVENTS_INDEXED.inc(outcome.indexed)
        EVENTS_DUPLICATE.inc(outcome.duplicates)
        EVENTS_DEDUPLICATED.inc(outcome.deduplicated)
        if outcome.conflicts:
            log.error(
                "%d events not indexed: their ids are taken by other events (dead letters "
                "ERROR_ID_CONFLICT)", outcome.conflicts,
            )  # fmt: skip
        EVENTS_RETRIED.inc(outcome.retried)
        ORPHAN_RECOVERIES.inc(outcome.orphans)
        return outcome

    async def correlate(self, decoded: DecodedBatch) -> tuple[CorrelatedBatch, list[str]]:
        """Step 3: the events correlated and people's changes applied between them, in the
        order they came (the alerts the changes are for read first, in real time), then
        the alerts opened numbered."""
        targets = {change["alert_id"] for _, change in decoded.changes}
        stored = {}
        if targets:
            stored = await retry(lambda: load_alerts(self.es, self.alerts_index, targets),
                                 "reading alerts", self.stopping)  # fmt: skip
        correlated, deleted = correlate_with_changes(
            decoded.events, decoded.changes, self.states.table, self.window, stored
        )
        alerts = [*correlated.alerts.values(), *(s["alert"] for s in correlated.states.values())]
        if self.numbers_index and any(a and a.get("alert_number") == 0 for a in alerts):
            await retry(lambda: number_alerts(self.es, self.numbers_index, alerts),
                        "numbering alerts", self.stopping)  # fmt: skip
        return correlated, deleted
