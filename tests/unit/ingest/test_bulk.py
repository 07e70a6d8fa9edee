"""Bulk request building and response classification, from canned responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ingest.elasticsearch.bulk import classify_bulk_response, to_bulk_body
from schemas.event import EventInfo


def test_create_actions_with_event_id_into_daily_index() -> None:
    events = [
        EventInfo(event_id=f"event-{i}", event_key="k", title="t",
                  created_at=datetime(2024, 5, day, 23, 59, tzinfo=UTC))
        for i, day in enumerate((1, 2))
    ]  # fmt: skip
    body = [json.loads(line) for line in to_bulk_body(events, "ev")]
    assert body[0] == {"create": {"_index": "ev-2024.05.01", "_id": "event-0"}}
    assert body[2] == {"create": {"_index": "ev-2024.05.02", "_id": "event-1"}}
    assert body[1]["event_id"] == "event-0" and body[1]["created_at"] == "2024-05-01T23:59:00.000Z"
    assert len(body) == 4


def test_an_action_line_stays_json_whatever_the_id() -> None:
    odd = EventInfo(
        event_id='event-"\\\u00e9', event_key="k", created_at=datetime(2024, 5, 1, tzinfo=UTC)
    )
    action = json.loads(to_bulk_body([odd], "ev")[0])
    assert action == {"create": {"_index": "ev-2024.05.01", "_id": 'event-"\\\u00e9'}}


def test_classify_bulk_response() -> None:
    response = {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            {"create": {"status": 400, "error": {"type": "document_parsing_exception",
                                                 "reason": "strict mapping"}}},
            {"create": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
        ],
    }  # fmt: skip
    outcome = classify_bulk_response(response)
    assert outcome.done == [0, 1] and outcome.duplicates == 1
    assert outcome.retry == [2, 4]
    assert outcome.dead == [(3, "document_parsing_exception: strict mapping")]
