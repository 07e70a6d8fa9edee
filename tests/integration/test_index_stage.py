"""The index stage against the real node: a document Elasticsearch refuses for good becomes a
dead letter with the reason; the rest of its batch is indexed; a replay creates nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_alerts_index, ensure_events_template
from ingest.process.flow import IndexStage
from ingest.process.normalize import (
    NormalizedEvent,
    Position,
    encode_events,
    record_origin,
    to_events,
)
from ingest.process.states import StateStore
from schemas.event import ParsedEvent
from schemas.settings import Settings
from tests.unit.ingest.test_steps import Records


def batch_with_one_bad_document() -> list[NormalizedEvent]:
    parsed = [ParsedEvent(event_key=f"k{i}", title=f"event {i}") for i in range(3)]
    events = to_events(
        parsed, payload={"p": 1}, origin=record_origin("", Position("t", 0, 5), datetime.now(UTC)),
        created_at=datetime.now(UTC), webhook_id="w", project_id="p", domain_id="d",
    )  # fmt: skip
    # severity is a keyword: an object there is refused by the mapping, for good.
    bad = events[1].doc.replace(b'"severity":"NONE"', b'"severity":{"not":"a keyword"}')
    return [events[0], events[1]._replace(doc=bad), events[2]]


async def test_a_refused_document_is_a_dead_letter_and_the_rest_is_indexed(
    es: AsyncElasticsearch, settings: Settings, unique_name: str
) -> None:
    prefix, alerts = f"{unique_name}-events", f"{unique_name}-alerts"
    await ensure_events_template(es, prefix)
    await ensure_alerts_index(es, alerts)
    stored: dict[bytes, Any] = {}
    out = Records()
    stage = IndexStage(
        es=es, states=StateStore(lambda: stored, "changelog", out, lambda: False), out=out,
        events_prefix=prefix, alerts_index=alerts, dlq="dlq", window=timedelta(minutes=10),
        stopping=lambda: False,
    )  # fmt: skip
    changelog = out.sent["changelog"]
    records = [
        (Position("t.normalized", 0, 9), v) for v in encode_events(batch_with_one_bad_document())
    ]

    async def run() -> Any:
        return await stage.run(records)

    try:
        first = await run()
        assert (first.events, first.indexed, first.duplicates) == (3, 2, 0)
        ((key, letter),) = first.letters
        assert key == b"d\x1fp\x1fk1" and letter.code == "ERROR_INDEX"
        assert "document_parsing_exception" in letter.reason
        assert letter.position == Position("t.normalized", 0, 9)
        assert len(stored) == 3 and len(changelog) == 1
        # Read again (a crash before the ack): nothing new, the same dead letter, no retry loop.
        again = await run()
        assert (again.indexed, again.duplicates, len(again.letters)) == (0, 2, 1)
        await es.indices.refresh(index=f"{prefix}-*")
        assert (await es.count(index=f"{prefix}-*"))["count"] == 2
        await es.indices.refresh(index=alerts)
        assert (await es.count(index=alerts))["count"] == 3
    finally:
        daily = await es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
        await es.indices.delete(index=",".join([*daily, alerts]), ignore_unavailable=True)
        await es.options(ignore_status=404).indices.delete_index_template(name=prefix)


async def test_an_id_taken_by_another_event_is_a_dead_letter_and_a_retry_is_dropped(
    es: AsyncElasticsearch, unique_name: str
) -> None:
    """Two lives of one topic give the same position; their events differ: the second is an
    ERROR_ID_CONFLICT dead letter, never taken for a replay. A sender's retry is dropped."""
    prefix, alerts = f"{unique_name}-events", f"{unique_name}-alerts"
    await ensure_events_template(es, prefix)
    await ensure_alerts_index(es, alerts)
    now = datetime.now(UTC)

    def events(title: str, origin: str, window: float = 600) -> list[NormalizedEvent]:
        return to_events(
            [ParsedEvent(event_key="k", title=title)], payload={"title": title}, origin=origin,
            created_at=now, webhook_id="w", project_id="p", domain_id="d",
            duplicate_window=window,
        )  # fmt: skip

    async def run(batch: list[NormalizedEvent], table: dict[bytes, Any]) -> Any:
        out = Records()
        stage = IndexStage(
            es=es, states=StateStore(lambda: table, "changelog", out, lambda: False), out=out,
            events_prefix=prefix, alerts_index=alerts, dlq="dlq", window=timedelta(minutes=10),
            stopping=lambda: False,
        )  # fmt: skip
        return await stage.run([(Position("t.normalized", 0, 1), v) for v in encode_events(batch)])

    try:
        first = await run(events("one", "old-life"), {})
        assert (first.indexed, first.duplicates, first.conflicts) == (1, 0, 0)
        # The same origin (the position of a topic made again, with an old scheme's id),
        # another event: a new table, as a new pipeline would have.
        clash = await run(events("two", "old-life"), {})
        assert (clash.indexed, clash.duplicates, clash.conflicts) == (0, 0, 1)
        ((key, letter),) = clash.letters
        assert key == b"d\x1fp\x1fk"
        assert letter.code == "ERROR_ID_CONFLICT" and b'"title":"two"' in (letter.value or b"")
        # The same event again (a replay with a table that forgot it): a quiet duplicate.
        replay = await run(events("one", "old-life"), {})
        assert (replay.indexed, replay.duplicates, replay.conflicts, replay.letters) == (
            0,
            1,
            0,
            [],
        )
        # A sender's retry: another record, the same content, within the window.
        table: dict[bytes, Any] = {}
        sent = await run(events("three", "rec-1"), table)
        retried = await run(events("three", "rec-2"), table)
        assert (sent.indexed, retried.indexed, retried.deduplicated) == (1, 0, 1)
        off = await run(events("three", "rec-3", window=0), table)
        assert (off.indexed, off.deduplicated) == (1, 0)
        await es.indices.refresh(index=f"{prefix}-*")
        titles = await es.search(index=f"{prefix}-*", size=10, source=["title"])
        assert sorted(h["_source"]["title"] for h in titles["hits"]["hits"]) == [
            "one", "three", "three"
        ]  # fmt: skip
    finally:
        daily = await es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
        await es.indices.delete(index=",".join([*daily, alerts]), ignore_unavailable=True)
        await es.options(ignore_status=404).indices.delete_index_template(name=prefix)
