"""Raw records become events: envelope decoding, deterministic ids, SPEC §4 stamping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.process.normalize import (
    HEADER_SIGNATURE,
    HEADER_WEBHOOK,
    InvalidRecord,
    Position,
    decode_record,
    event_id_for,
    parse_error_event,
    to_events,
)
from schemas.event import EventType, ParsedEvent, Severity
from schemas.parser import ParseError

POSITION = Position("events.raw", 2, 41)


def test_intake_record_carries_webhook_and_signature_in_headers() -> None:
    body = b'{"alerts": []}'
    sub = decode_record(body, {HEADER_WEBHOOK: b"webhook-1", HEADER_SIGNATURE: b"abc"})
    assert (sub.webhook_id, sub.signature, sub.access_key) == ("webhook-1", "abc", None)
    assert sub.data == {"alerts": []} and sub.signed_bytes == body


def test_direct_record_is_a_create_event_request() -> None:
    value = json.dumps({"webhook_id": "webhook-1", "access_key": "k", "data": [1]}).encode()
    sub = decode_record(value, {})
    assert (sub.webhook_id, sub.access_key, sub.data, sub.signature) == (
        "webhook-1",
        "k",
        [1],
        None,
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "ERROR_EMPTY_RECORD"),
        (b"\xff\xfe", "ERROR_NOT_JSON"),
        (b"{not json", "ERROR_NOT_JSON"),
        (b'{"webhook_id": "w"}', "ERROR_INVALID_ARGUMENT"),
        (b"[1, 2]", "ERROR_INVALID_ARGUMENT"),
    ],
)
def test_unreadable_records_are_invalid(value: bytes | None, code: str) -> None:
    with pytest.raises(InvalidRecord) as error:
        decode_record(value, {})
    assert error.value.code == code


def test_event_ids_are_deterministic_per_position_and_index() -> None:
    first = event_id_for(POSITION, 0)
    assert first == event_id_for(Position("events.raw", 2, 41), 0)
    assert first.startswith("event-") and len(first) == 6 + 24
    others = {event_id_for(POSITION, 1), event_id_for(Position("events.raw", 2, 42), 0),
              event_id_for(Position("events.raw", 3, 41), 0)}  # fmt: skip
    assert first not in others and len(others) == 3


def test_to_events_stamps_webhook_payload_and_time() -> None:
    created = datetime(2024, 5, 1, tzinfo=UTC)
    parsed = [ParsedEvent(event_key="a", title=" A "), ParsedEvent(event_key="b")]
    stamp = {"webhook_id": "webhook-1", "project_id": "project-1", "domain_id": "domain-1"}
    events = to_events(parsed, payload={"x": 1}, position=POSITION, created_at=created, **stamp)
    assert [e.event_id for e in events] == [event_id_for(POSITION, 0), event_id_for(POSITION, 1)]
    assert all(e.raw_data == {"x": 1} and e.domain_id == "domain-1" for e in events)
    assert events[0].title == "A" and events[0].created_at == created
    wrapped = to_events(parsed[:1], payload=[1, 2], position=POSITION, created_at=created,
                        webhook_id="w", project_id="p", domain_id="d")  # fmt: skip
    assert wrapped[0].raw_data == {"data": [1, 2]}


def test_parse_failure_becomes_one_error_event() -> None:
    event = parse_error_event("webhook-1", "prod alerts", ParseError("no 'alerts' list"))
    assert event.event_type == EventType.ERROR and event.severity == Severity.CRITICAL
    assert event.title == "Webhook Event Parsing Error - prod alerts"
    assert event.description == "no 'alerts' list"
