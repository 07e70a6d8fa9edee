"""EventInfo serializes as SPEC §3 says: trimmed strings, UTC millisecond timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.event import EventInfo, EventType, Severity, format_timestamp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2022, 6, 21, 0, 34, 58, 34567, tzinfo=UTC), "2022-06-21T00:34:58.034Z"),
        (datetime(2022, 6, 21, 2, 34, 58, tzinfo=timezone(timedelta(hours=2))),
         "2022-06-21T00:34:58.000Z"),
        (datetime(2022, 6, 21, 0, 0, 0), "2022-06-21T00:00:00.000Z"),
    ],
)  # fmt: skip
def test_timestamps_are_utc_milliseconds_z(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text


def test_event_defaults_trimming_and_unknown_fields() -> None:
    event = EventInfo.model_validate(
        {
            "event_id": "event-0123456789ab",
            "event_key": "  key-1 ",
            "title": " CPU high\n",
            "created_at": "2024-05-01T10:00:00+02:00",
            "occurred_at": "",
            "not_a_field": 1,
        }
    )
    data = json.loads(event.model_dump_json())
    assert data["event_key"] == "key-1" and data["title"] == "CPU high"
    assert data["event_type"] == EventType.ALERT == "ALERT"
    assert data["severity"] == Severity.NONE == "NONE"
    assert data["created_at"] == "2024-05-01T08:00:00.000Z"
    assert data["occurred_at"] is None
    assert "not_a_field" not in data


def test_unknown_enum_value_is_rejected() -> None:
    with pytest.raises(ValueError):
        EventInfo.model_validate(
            {"event_id": "e", "event_key": "k", "created_at": "2024-01-01T00:00:00Z",
             "severity": "SEVERE"}
        )  # fmt: skip
