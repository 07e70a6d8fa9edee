"""Bulk request building and response classification, from canned responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ingest.elasticsearch.bulk import (
    classify_bulk_response,
    create_action,
    daily_index,
    index_action,
    same_event,
    to_bulk_body,
)
from schemas.event import format_timestamp
from schemas.index import events_index_for


def test_create_actions_with_event_id_into_daily_index() -> None:
    created = [datetime(2024, 5, day, 23, 59, 59, 999000, tzinfo=UTC) for day in (1, 2)]
    items = [
        (create_action(daily_index("ev", format_timestamp(t)), f"event-{i}"), b'{"n":%d}' % i)
        for i, t in enumerate(created)
    ]
    body = to_bulk_body(items)
    assert body.endswith(b"\n")
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[0] == {"create": {"_index": "ev-2024.05.01", "_id": "event-0"}}
    assert lines[2] == {"create": {"_index": "ev-2024.05.02", "_id": "event-1"}}
    assert lines[1] == {"n": 0} and lines[3] == {"n": 1}
    # The same index as the schema's rule, which parses the date.
    assert [daily_index("ev", format_timestamp(t)) for t in created] == [
        events_index_for("ev", t) for t in created
    ]


def test_an_action_line_stays_json_whatever_the_id() -> None:
    action = json.loads(create_action("ev-2024.05.01", 'event-"\\\u00e9'))
    assert action == {"create": {"_index": "ev-2024.05.01", "_id": 'event-"\\\u00e9'}}
    assert json.loads(index_action("a", "x")) == {"index": {"_index": "a", "_id": "x"}}


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
    assert outcome.done == [0, 1] and outcome.duplicates == [1]
    assert outcome.retry == [2, 4]
    assert outcome.dead == [(3, "document_parsing_exception: strict mapping")]


def test_a_conflict_is_a_replay_only_when_the_stored_event_is_the_same() -> None:
    doc = b'{"event_key":"k","title":"t","raw_data":{"n":18446744073709551616},"alert_id":"a1"}'
    stored = {"event_key": "k", "title": "t", "raw_data": {"n": 2**64}, "alert_id": "a1"}
    assert same_event(doc, stored)
    assert same_event(doc, {**stored, "alert_id": "a2"})  # correlation may answer anew
    assert not same_event(doc, {**stored, "title": "other"})
    assert not same_event(doc, {**stored, "created_at": "2024-05-01T00:00:00.000Z"})
