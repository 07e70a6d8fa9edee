"""Creating the indices (the events template, and every single index from its spec in
`schemas.index`) and deleting expired daily indices.

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
    ALERT_NUMBERS_INDEX,
    ALERTS_INDEX,
    NOTES_INDEX,
    IndexSpec,
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


async def ensure_index(es: AsyncElasticsearch, index: str, spec: IndexSpec) -> None:
    """Create `index` from its spec unless it exists; another process creating it at the
    same moment is fine (the one way every index is created). An index made by an earlier
    version gets the fields added since (a strict mapping would refuse every document
    carrying one)."""
    if await es.indices.exists(index=index):
        await es.indices.put_mapping(index=index, properties=spec.mappings["properties"])
        return
    try:
        await es.indices.create(index=index, mappings=spec.mappings, settings=spec.settings)
    except BadRequestError as error:
        if error.message != "resource_already_exists_exception":
            raise


async def ensure_alerts_index(es: AsyncElasticsearch, index: str) -> None:
    """The alerts index; its documents are rewritten as alerts change."""
    await ensure_index(es, index, ALERTS_INDEX)


async def ensure_alert_indices(es: AsyncElasticsearch, indices: IndexSettings) -> None:
    """The alerts index (its mapping brought up to date), the notes index and the alert
    number counters."""
    await ensure_index(es, indices.alerts, ALERTS_INDEX)
    await ensure_index(es, indices.notes, NOTES_INDEX)
    await ensure_index(es, indices.alert_numbers, ALERT_NUMBERS_INDEX)
