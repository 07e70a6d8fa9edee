"""Zabbix media-type script JSON → events (SPEC §7)."""

from __future__ import annotations

import pytest

from ingest.parsers import zabbix
from tests.unit.parsers.helpers import as_json, load, md5, raises_parse_error

LOAD_AVERAGE = "Load average is too high (per CPU load over 1.5 for 5m)"
PROBLEM = {
    "event_key": md5("10445:7458"),  # host.id:event.id
    "event_type": "ALERT",
    "title": LOAD_AVERAGE,
    "description": "Load average per CPU has been above 1.5 for 5 minutes.",
    "severity": "WARNING",
    "rule": LOAD_AVERAGE,
    "resource": {"resource_id": "10445", "resource_type": "host", "name": "bastion-dev"},
    "provider": "zabbix",
    "account": "",
    "image_url": "",
    "occurred_at": "2024-05-01T11:58:49.000Z",
    "additional_info": {
        "host_ip": "172.16.2.66",
        "trigger_id": "21028",
        "event_id": "7458",
        "event_value": "1",
        "event_status": "PROBLEM",
        "event_severity": "Average",
        "item_id": "42529",
        "item_name": "Load average (1m avg)",
        "item_key": "system.cpu.load[all,avg1]",
        "item_value": "2",
    },
}

CASES = [
    pytest.param("zabbix/problem.json", {}, [PROBLEM], id="problem"),
    pytest.param(
        "zabbix/resolved.json",
        {},
        [
            {
                **PROBLEM,
                "event_type": "RECOVERY",
                "severity": "INFO",
                "occurred_at": "2024-05-01T12:13:49.000Z",
                "additional_info": {
                    **PROBLEM["additional_info"],
                    "event_value": "0",
                    "event_status": "RESOLVED",
                    "item_value": "0.42",
                },
            }
        ],
        id="resolved-pairs-with-problem",
    ),
    pytest.param(
        "zabbix/problem.json",
        {"utc_offset": "+09:00"},
        [{**PROBLEM, "occurred_at": "2024-05-01T02:58:49.000Z"}],
        id="server-in-utc+9",
    ),
    pytest.param(
        "zabbix/disaster_minimal.json",
        {},
        [
            {
                "event_key": md5("10501:90211"),
                "event_type": "ALERT",
                "title": "Zabbix agent on 東京-db-01 is unreachable for 5 minutes",
                "description": "",
                "severity": "CRITICAL",
                "rule": "",
                "resource": {"resource_id": "10501", "resource_type": "host", "name": "東京-db-01"},
                "provider": "zabbix",
                "account": "",
                "image_url": "",
                "occurred_at": "2024-05-02T00:05:00.000Z",
                "additional_info": {
                    "event_id": "90211",
                    "event_value": "1",
                    "event_status": "PROBLEM",
                    "event_severity": "Disaster",
                },
            }
        ],
        id="disaster-without-trigger-or-item",
    ),
]


@pytest.mark.parametrize(("payload", "options", "expected"), CASES)
def test_payload_maps_to_events(payload: str, options: dict, expected: list[dict]) -> None:
    assert as_json(zabbix.parse(load(payload), options)) == expected


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("Disaster", "CRITICAL"),
        ("High", "ERROR"),
        ("Average", "WARNING"),
        ("Warning", "WARNING"),
        ("Information", "INFO"),
        ("Not classified", "NOT_AVAILABLE"),
        ("Catastrophic", "NONE"),
        ("", "NONE"),
    ],
)
def test_severity(severity: str, expected: str) -> None:
    payload = load("zabbix/problem.json")
    payload["event"]["severity"] = severity
    [event] = zabbix.parse(payload, {})
    assert (event.event_type, event.severity) == ("ALERT", expected)


def test_numeric_ids_key_like_their_text() -> None:
    payload = load("zabbix/problem.json")
    payload["event"]["id"], payload["host"]["id"] = 7458, 10445.0
    [event] = zabbix.parse(payload, {})
    assert event.event_key == md5("10445:7458")


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ([], {}, "Zabbix payload must be a JSON object, got list"),
        ({"host": {"id": "1"}}, {}, "Zabbix payload has no 'event' object"),
        ({"event": {"id": "1"}}, {}, "Zabbix payload has no 'host' object"),
        ({"event": {"id": "1"}, "host": {"name": "h"}}, {}, "Zabbix host has no 'id'"),
        ({"event": {"id": ""}, "host": {"id": "1"}}, {}, "Zabbix event has no 'id'"),
        (
            {"event": {"id": "1", "date": "01/05/2024"}, "host": {"id": "1"}},
            {},
            "Zabbix event date/time must look like 2024.05.01 13:45:00",
        ),
        (
            {"event": {"id": "1"}, "host": {"id": "1"}, "trigger": "t"},
            {},
            "Zabbix payload.trigger must be a JSON object, got text",
        ),
        (
            {"event": {"id": "1"}, "host": {"id": "1"}},
            {"utc_offset": "Europe/Berlin"},
            "option 'utc_offset' must look like +09:00, got 'Europe/Berlin'",
        ),
        (
            {"event": {"id": "1"}, "host": {"id": "1"}},
            {"utc_offset": "+25:00"},
            "option 'utc_offset' must look like +09:00",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, options: dict, message: str) -> None:
    with raises_parse_error(message):
        zabbix.parse(data, options)
