"""Creating the events index template and deleting expired daily indices.

Retention runs here rather than in index lifecycle management, which a minimal
Elasticsearch node lacks: the daily index names carry their day, so expiry is a
pure decision over names (`expired_indices`) followed by one delete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from elasticsearch import AsyncElasticsearch, BadRequestError

from schemas.index import (
    ALERT_MAPPINGS,
    ALERT_NUMBER_MAPPINGS,
    NOTE_MAPPINGS,
    events_index_pattern,
    events_template,
)
from schemas.settings import IndexSettings


async def ensure_events_template(es: AsyncElasticsearch, prefix: str) -> None:
    """Put the events index template (idempotent: same body, same result)."""
    await es.indices.put_index_template(name=prefix, **events_template(prefix))


def expired_indices(
    names: Iterable[str], prefix: str, retention_days: int, today: date
) -> list[str]:
    """Daily events indices whose whole day lies before the retention window."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")
    oldest_kept = today - timedelta(days=retention_days - 1)
    expired = []
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
        if day < oldest_kept:
            expired.append(name)
    return sorted(expired)


async def delete_expired(
    es: AsyncElasticsearch, prefix: str, retention_days: int, now: datetime | None = None
) -> list[str]:
    """Delete the events indices older than the retention; returns their names."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    found = await es.indices.get(
        index=events_index_pattern(prefix), allow_no_indices=True, expand_wildcards="open,closed"
    )
    doomed = expired_indices(found.keys(), prefix, retention_days, today)
    for name in doomed:
        await es.indices.delete(index=name, ignore_unavailable=True)
    return doomed


async def ensure_alerts_index(es: AsyncElasticsearch, index: str) -> None:
    """Create the alerts index once (its mapping brought up to date when it exists)."""
    await ensure_index(es, index, ALERT_MAPPINGS)


async def ensure_index(es: AsyncElasticsearch, index: str, mappings: dict) -> None:
    """Create a one-shard index with `mappings` once; on an existing one, add the fields
    it lacks (a mapping only grows: an index of an older version takes the new fields)."""
    if await es.indices.exists(index=index):
        await es.indices.put_mapping(index=index, **mappings)
        return
    try:
        await es.indices.create(
            index=index,
            mappings=mappings,
            settings={"number_of_shards": 1, "number_of_replicas": 0},
        )
    except BadRequestError as error:
        if error.error != "resource_already_exists_exception":
            raise


async def ensure_alert_indices(es: AsyncElasticsearch, indices: IndexSettings) -> None:
    """The alerts index (its mapping brought up to date), the notes index and the alert
    number counters."""
    await ensure_index(es, indices.alerts, ALERT_MAPPINGS)
    await ensure_index(es, indices.notes, NOTE_MAPPINGS)
    await ensure_index(es, indices.alert_numbers, ALERT_NUMBER_MAPPINGS)
