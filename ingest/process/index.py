"""Stage 2 of the processor: correlate a batch of events, then index events and alerts.

Correlation state lives in a mapping (the worker's faust Table) keyed like the
`events.normalized` topic. Indexing waits until Elasticsearch has acknowledged
every event of the batch — retrying 429, 5xx and unreachable with backoff — so
the caller may ack the batch afterwards and only then; mapping errors come back
as dead letters.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from elasticsearch import ApiError as EsApiError
from elasticsearch import AsyncElasticsearch, TransportError

from ingest.elasticsearch.bulk import classify_bulk_response, to_bulk_body
from ingest.metrics import BULK_SECONDS
from ingest.process.correlate import correlate, correlation_key
from schemas.alert import Alert, KeyState
from schemas.event import EventInfo

log = logging.getLogger("eventpipe.index")

MAX_BACKOFF_SECONDS = 5.0
# Only what classify_bulk_response reads: a smaller response to parse.
BULK_FILTER = "errors,items.*.status,items.*.error"


class Stopping(Exception):
    """The worker is stopping while Elasticsearch still refuses the batch: do not ack it."""


@dataclass
class IndexResult:
    indexed: int = 0
    duplicates: int = 0
    retried: int = 0
    orphan_recoveries: int = 0
    dead: list[tuple[EventInfo, str]] = field(default_factory=list)


def load_state(stored: bytes | dict[str, Any] | None) -> KeyState | None:
    """A key's state as the table holds it: JSON bytes as the worker writes them, or the
    dict faust's changelog recovery decodes them into."""
    if not stored:
        return None
    if isinstance(stored, bytes):
        return KeyState.model_validate_json(stored)
    return KeyState.model_validate(stored)


def correlate_batch(
    events: Sequence[EventInfo], table: Mapping[bytes, bytes | dict[str, Any]], window: timedelta
) -> tuple[list[EventInfo], dict[str, Alert], int, dict[bytes, KeyState]]:
    """Give each event its alert, in order; return events, alerts, orphans and new states.

    Each key's state is read from `table` once; the states to write back come out once
    per key, for the caller to store (a table write is a changelog record).
    """
    alerts: dict[str, Alert] = {}
    out: list[EventInfo] = []
    orphans = 0
    states: dict[bytes, KeyState | None] = {}
    for event in events:
        key = correlation_key(event).encode()
        if key not in states:
            states[key] = load_state(table.get(key))
        result = correlate(states[key], event, window)
        states[key] = result.state
        event.alert_id = result.alert_id
        out.append(event)
        if result.alert is not None:
            alerts[result.alert.alert_id] = result.alert
        orphans += result.orphan_recovery
    written = {key: state for key, state in states.items() if state is not None}
    return out, alerts, orphans, written


async def index_events(
    es: AsyncElasticsearch,
    events: Sequence[EventInfo],
    prefix: str,
    stopping: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> IndexResult:
    """Bulk-create the events until each is acknowledged or dead; retries only what failed."""
    result = IndexResult()
    pending = list(events)
    backoff = 0.1
    while pending:
        try:
            with BULK_SECONDS.time():
                response = await es.bulk(
                    operations=to_bulk_body(pending, prefix), filter_path=BULK_FILTER
                )
        except (TransportError, EsApiError) as error:
            if (
                isinstance(error, EsApiError)
                and error.meta.status not in (429,)
                and (error.meta.status < 500)
            ):
                raise
            log.warning("bulk request failed (%s); retrying in %.1f s", error, backoff)
        else:
            outcome = classify_bulk_response(response)
            result.indexed += len(outcome.done) - outcome.duplicates
            result.duplicates += outcome.duplicates
            result.dead += [(pending[i], reason) for i, reason in outcome.dead]
            result.retried += len(outcome.retry)
            pending = [pending[i] for i in outcome.retry]
            if not pending:
                break
        if stopping():
            raise Stopping(f"{len(pending)} events not indexed at shutdown")
        await sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return result


async def index_alerts(
    es: AsyncElasticsearch,
    alerts: dict[str, Alert],
    index: str,
    stopping: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Write each alert's latest state (whole documents: a replay rewrites the same state)."""
    operations: list[str] = []
    for alert in alerts.values():
        operations.append(json.dumps({"index": {"_index": index, "_id": alert.alert_id}}))
        operations.append(alert.model_dump_json())
    backoff = 0.1
    while operations:
        try:
            response = await es.bulk(operations=operations, filter_path=BULK_FILTER)
        except (TransportError, EsApiError) as error:
            log.warning("alerts bulk failed (%s); retrying in %.1f s", error, backoff)
        else:
            outcome = classify_bulk_response(response)
            for _, reason in outcome.dead:
                log.error("alert not indexed: %s", reason)
            operations = [line for i in outcome.retry for line in operations[2 * i : 2 * i + 2]]
            if not operations:
                return
        if stopping():
            raise Stopping("alerts not indexed at shutdown")
        await sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
