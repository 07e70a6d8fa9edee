"""Event-shaped payloads, validated as given (SPEC §7, standard)."""

from __future__ import annotations

import pytest

from ingest.parsers import standard
from tests.unit.parsers.helpers import NO_RESOURCE, as_json, load, raises_parse_error

DEFAULTS = {
    "event_type": "ALERT",
    "title": "",
    "description": "",
    "severity": "NONE",
    "rule": "",
    "resource": NO_RESOURCE,
    "provider": "",
    "account": "",
    "image_url": "",
    "occurred_at": None,
    "additional_info": {},
}

CASES = [
    pytest.param(
        "standard/single_event.json",
        [
            {
                "event_key": "checkout-latency-p99",  # trimmed
                "event_type": "ALERT",
                "title": "Checkout p99 latency above 2s",
                "description": "p99 = 2.7s over the last 10 minutes",
                "severity": "WARNING",
                "rule": "slo-checkout",
                "resource": {
                    "resource_id": "svc-checkout",
                    "resource_type": "service",
                    "name": "checkout",
                },
                "provider": "synthetic-monitor",
                "account": "team-shop",
                "image_url": "https://grafana.example.com/render/d-solo/slo?panelId=3",
                "occurred_at": "2024-05-01T12:00:00.250Z",
                "additional_info": {"p99_seconds": 2.7, "region": "eu-west-1"},
            }
        ],
        id="single-event",
    ),
    pytest.param(
        "standard/event_list.json",
        [
            {
                **DEFAULTS,
                "event_key": "backup-nightly",
                "event_type": "RECOVERY",
                "severity": "INFO",
                "title": "Nightly backup finished",
            },
            {
                **DEFAULTS,
                "event_key": "cron-7",
                "title": "Cron job failed",
                "occurred_at": "2024-05-01T01:00:00.000Z",
            },
        ],
        id="event-list-with-defaults",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(standard.parse(load(payload), {})) == expected


def test_empty_list_gives_no_events() -> None:
    assert standard.parse([], {}) == []


def test_a_field_named_where_is_just_dropped() -> None:
    [event] = standard.parse({"event_key": "k", "where": "x"}, {})
    assert event.event_key == "k"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("event", "standard payload must be an event object or a list, got text"),
        ({"title": "no key"}, "event has no 'event_key' text"),
        ({"event_key": "   "}, "event has no 'event_key' text"),
        ({"event_key": 12}, "event has no 'event_key' text"),
        ([{"event_key": "a"}, {"title": "b"}], "event [1] has no 'event_key' text"),
        ([{"event_key": "a"}, "b"], "event [1] must be a JSON object, got text"),
        ({"event_key": "a", "severity": "HIGH"}, "event: severity: Input should be"),
        ({"event_key": "a", "occurred_at": "last tuesday"}, "event: occurred_at:"),
        ({"event_key": "a", "resource": "vm-1"}, "event: resource:"),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        standard.parse(data, {})
