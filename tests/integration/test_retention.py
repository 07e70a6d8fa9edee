"""Retention deletes whole expired days from the real node and keeps the rest readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import delete_expired, ensure_events_template
from schemas.index import events_index_for


async def test_expired_days_are_deleted(es: AsyncElasticsearch, unique_name: str) -> None:
    prefix = unique_name
    now = datetime(2024, 5, 31, 12, tzinfo=UTC)
    await ensure_events_template(es, prefix)
    days = [now - timedelta(days=n) for n in (0, 1, 29, 30, 45)]
    try:
        for day in days:
            await es.index(
                index=events_index_for(prefix, day),
                id=f"event-{day:%d}",
                document={"event_id": f"event-{day:%d}", "event_key": "k", "created_at": day},
                refresh=True,
            )
        assert (await es.count(index=prefix))["count"] == 5  # all behind the read alias

        deleted = await delete_expired(es, prefix, retention_days=30, now=now)

        assert deleted == [events_index_for(prefix, now - timedelta(days=n)) for n in (45, 30)]
        remaining = await es.indices.get(index=f"{prefix}-*")
        assert sorted(remaining) == sorted(
            events_index_for(prefix, now - timedelta(days=n)) for n in (0, 1, 29)
        )
        assert (await es.count(index=prefix))["count"] == 3
        assert await delete_expired(es, prefix, retention_days=30, now=now) == []
    finally:
        left = await es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
        if left:
            await es.indices.delete(index=",".join(left))
        await es.options(ignore_status=404).indices.delete_index_template(name=prefix)
