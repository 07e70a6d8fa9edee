"""Grafana legacy and unified alerting webhooks → events (SPEC §7)."""

from __future__ import annotations

import pytest

from ingest.parsers import grafana
from tests.unit.parsers.helpers import NO_RESOURCE, as_json, load, md5, raises_parse_error

LEGACY_RULE_URL = "http://localhost:3000/d/hZ7BuVbWz/test-dashboard?tab=alert&viewPanel=2&orgId=1"
LEGACY_ALERTING = {
    "event_key": md5("1:2:1:1"),  # dashboardId:panelId:ruleId:orgId
    "event_type": "ALERT",
    "title": "Panel Title alert",
    "description": "Someone is testing the alert notification within Grafana.",
    "severity": "ERROR",
    "rule": "Panel Title alert",
    "resource": NO_RESOURCE,
    "provider": "grafana",
    "account": "",
    "image_url": "https://grafana.example.com/public/img/attachments/zUz9aXj0dEtLuGnV2ZQ6.png",
    "occurred_at": None,
    "additional_info": {
        "dashboard_id": "1",
        "panel_id": "2",
        "rule_id": "1",
        "org_id": "1",
        "rule_url": LEGACY_RULE_URL,
        "state": "alerting",
        "tags": {"team": "payments"},
        "eval_matches": [
            {"value": 100, "metric": "High value", "tags": None},
            {"value": 200, "metric": "Higher Value", "tags": None},
        ],
    },
}
MEMORY_LABELS = {
    "alertname": "High memory usage",
    "grafana_folder": "Infrastructure",
    "instance": "web-1:9100",
    "severity": "critical",
    "team": "blue",
}
MEMORY_PANEL = (
    "https://grafana.example.com/d/node/node-exporter"
    "?from=1714564263000&orgId=1&to=1714567863157&viewPanel=4"
)
MEMORY_FIRING = {
    "event_key": "c6eadffa33fcdf37",
    "event_type": "ALERT",
    "title": "High memory usage",
    "description": "The system has high memory usage",
    "severity": "CRITICAL",
    "rule": "High memory usage",
    "resource": {"resource_id": "web-1:9100", "resource_type": "instance", "name": "web-1:9100"},
    "provider": "grafana",
    "account": "",
    "image_url": MEMORY_PANEL,
    "occurred_at": "2024-05-01T12:51:03.157Z",
    "additional_info": {
        **MEMORY_LABELS,
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "generator_url": "https://grafana.example.com/alerting/grafana/fdk2x7mlw1xxcd/view?orgId=1",
        "dashboard_url": (
            "https://grafana.example.com/d/node/node-exporter"
            "?from=1714564263000&orgId=1&to=1714567863157"
        ),
        "panel_url": MEMORY_PANEL,
        "silence_url": (
            "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
            "&matcher=alertname%3DHigh+memory+usage&matcher=instance%3Dweb-1%3A9100&orgId=1"
        ),
        "value_string": (
            "[ var='B' labels={instance=web-1:9100} value=93.7 ], "
            "[ var='C' labels={instance=web-1:9100} value=1 ]"
        ),
        "org_id": "1",
    },
}

CASES = [
    pytest.param("grafana/legacy_alerting.json", [LEGACY_ALERTING], id="legacy-alerting"),
    pytest.param(
        "grafana/legacy_ok.json",
        [
            {
                **LEGACY_ALERTING,
                "event_type": "RECOVERY",
                "severity": "INFO",
                "image_url": "",
                "additional_info": {
                    "dashboard_id": "1",
                    "panel_id": "2",
                    "rule_id": "1",
                    "org_id": "1",
                    "rule_url": LEGACY_RULE_URL,
                    "state": "ok",
                },
            }
        ],
        id="legacy-ok-pairs-with-alerting",
    ),
    pytest.param(
        "grafana/legacy_no_data.json",
        [
            {
                "event_key": md5("12:7:42:3"),
                "event_type": "ALERT",
                "title": "Queue depth",
                "description": "",
                "severity": "NONE",
                "rule": "Queue depth",
                "resource": NO_RESOURCE,
                "provider": "grafana",
                "account": "",
                "image_url": "",
                "occurred_at": None,
                "additional_info": {
                    "dashboard_id": "12",
                    "panel_id": "7",
                    "rule_id": "42",
                    "org_id": "3",
                    "rule_url": "http://localhost:3000/d/q1/queues?tab=alert&viewPanel=7&orgId=3",
                    "state": "no_data",
                },
            }
        ],
        id="legacy-no-data",
    ),
    pytest.param(
        "grafana/unified_firing_two_alerts.json",
        [
            MEMORY_FIRING,
            {
                "event_key": "bc97ff14869b13e3",
                "event_type": "ALERT",
                "title": "High CPU usage",
                "description": "This alert was triggered for zone eu-1",  # summary stands in
                "severity": "ERROR",  # no severity label
                "rule": "High CPU usage",
                "resource": NO_RESOURCE,  # none of instance, pod, … among the labels
                "provider": "grafana",
                "account": "",
                "image_url": "https://grafana.example.com/public/img/attachments/cpu-eu-1.png",
                "occurred_at": "2024-05-01T12:56:03.000Z",
                "additional_info": {
                    "alertname": "High CPU usage",
                    "grafana_folder": "Infrastructure",
                    "team": "blue",
                    "zone": "eu-1",
                    "generator_url": "https://grafana.example.com/alerting/grafana/a8x1kq/view?orgId=1",
                    "value_string": "[ var='B' labels={zone=eu-1} value=81.2 ]",
                    "org_id": "1",
                },
            },
        ],
        id="unified-two-alerts",
    ),
    pytest.param(
        "grafana/unified_resolved.json",
        # occurred_at is when it resolved (endsAt)
        [
            {
                **MEMORY_FIRING,
                "event_type": "RECOVERY",
                "severity": "INFO",
                "occurred_at": "2024-05-01T13:21:03.157Z",
            }
        ],
        id="unified-resolved-pairs-with-firing",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(grafana.parse(load(payload), {})) == expected


@pytest.mark.parametrize(
    ("ids", "key_text"),
    [
        ({"dashboardId": 5, "panelId": 3, "ruleId": 9, "orgId": 1}, "5:3:9:1"),
        ({"dashboardId": 5.0, "panelId": 3.0, "ruleId": 9, "orgId": 1}, "5:3:9:1"),
        ({"dashboardId": "5", "panelId": 3, "ruleId": "9", "orgId": 1}, "5:3:9:1"),
    ],
)
def test_legacy_key_prints_integers_without_decimal_point(ids: dict, key_text: str) -> None:
    [event] = grafana.parse({**ids, "state": "alerting", "title": "[Alerting] x"}, {})
    assert event.event_key == md5(key_text)


@pytest.mark.parametrize(
    ("state", "title", "expected"),
    [
        ("paused", "[Paused] Disk", ("ALERT", "NONE", "Disk")),
        ("pending", "[Pending] Disk", ("ALERT", "NONE", "Disk")),
        ("alerting", "[prod] Disk", ("ALERT", "ERROR", "[prod] Disk")),  # not a state tag
        ("ok", "", ("RECOVERY", "INFO", "rule name")),
    ],
)
def test_legacy_states_and_titles(state: str, title: str, expected: tuple) -> None:
    payload = {
        "dashboardId": 1,
        "panelId": 1,
        "ruleId": 1,
        "orgId": 1,
        "state": state,
        "title": title,
        "ruleName": "rule name",
    }
    [event] = grafana.parse(payload, {})
    assert (event.event_type, event.severity, event.title) == expected


@pytest.mark.parametrize(
    ("status", "severity_label", "expected"),
    [
        ("firing", "warning", ("ALERT", "WARNING")),
        ("firing", "INFO", ("ALERT", "INFO")),
        ("firing", "sev1", ("ALERT", "ERROR")),
        ("resolved", "critical", ("RECOVERY", "INFO")),
        ("pending", "critical", ("ALERT", "NONE")),  # a state SPEC does not name
    ],
)
def test_unified_status_and_severity(status: str, severity_label: str, expected: tuple) -> None:
    alert = {"status": status, "fingerprint": "f", "labels": {"severity": severity_label}}
    [event] = grafana.parse({"orgId": 1, "alerts": [alert]}, {})
    assert (event.event_type, event.severity) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "Grafana payload must be a JSON object, got list"),
        ({"orgId": 1}, "Grafana payload is neither unified alerting"),
        ({"orgId": 1, "alerts": "none"}, "Grafana payload has no 'alerts' list"),
        (
            {"dashboardId": 1, "orgId": 1, "ruleId": 2, "state": "ok"},
            "Grafana legacy alert has no 'panelId'",
        ),
        (
            {"dashboardId": [1], "panelId": 1, "ruleId": 2, "orgId": 1},
            "Grafana legacy alert.dashboardId must be text or a number, got list",
        ),
        ({"orgId": 1, "alerts": [None]}, "alerts[0] must be a JSON object, got null"),
        (
            {"orgId": 1, "alerts": [{"fingerprint": "f", "panelURL": {}}]},
            "alerts[0].panelURL must be text or a number, got object",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        grafana.parse(data, {})
