"""Azure Monitor common alert schema → events (SPEC §7)."""

from __future__ import annotations

import pytest

from ingest.parsers import azure_monitor
from tests.unit.parsers.helpers import as_json, load, raises_parse_error

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
VM = (
    f"/subscriptions/{SUBSCRIPTION}/resourcegroups/pipelinealertrg/providers/"
    "microsoft.compute/virtualmachines/wcus-r2-gen2"
)
WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ops/providers/"
    "Microsoft.OperationalInsights/workspaces/ops-logs"
)
FIRED = {
    "event_key": (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/"
        "b9569717-bc32-442f-add5-83a997729330"
    ),
    "event_type": "ALERT",
    "title": "WCUS-R2-Gen2",
    "description": "Percentage CPU above 90 for 5 minutes",
    "severity": "ERROR",
    "rule": "WCUS-R2-Gen2",
    "resource": {
        "resource_id": VM,
        "resource_type": "microsoft.compute/virtualmachines",
        "name": "wcus-r2-gen2",
    },
    "provider": "azure",
    "account": SUBSCRIPTION,
    "image_url": "",
    "occurred_at": "2024-05-01T13:58:24.371Z",
    "additional_info": {
        "monitoring_service": "Platform",
        "signal_type": "Metric",
        "essentials_version": "1.0",
        "alert_context_version": "1.0",
        "alert_target_ids": [VM],
        "configuration_items": ["wcus-r2-gen2"],
    },
}

CASES = [
    pytest.param("azure_monitor/metric_fired.json", [FIRED], id="metric-fired"),
    pytest.param(
        "azure_monitor/metric_resolved.json",
        # keeps Sev1's ERROR; occurred_at is when it resolved
        [{**FIRED, "event_type": "RECOVERY", "occurred_at": "2024-05-01T14:03:16.224Z"}],
        id="metric-resolved-pairs-with-fired",
    ),
    pytest.param(
        "azure_monitor/log_alert_sev4_no_items.json",
        [
            {
                "event_key": (
                    f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/"
                    "alerts/1c9a3e6b-7d2f-4b8a-9e1c-5f3d7b9a2c4e"
                ),
                "event_type": "ALERT",
                "title": "Failed logins (Anmeldefehler) — 東京",
                "description": "",
                "severity": "INFO",
                "rule": "Failed logins (Anmeldefehler) — 東京",
                "resource": {
                    "resource_id": WORKSPACE,
                    "resource_type": "Microsoft.OperationalInsights/workspaces",
                    "name": "",
                },
                "provider": "azure",
                "account": SUBSCRIPTION,
                "image_url": "",
                "occurred_at": "2024-05-04T02:00:00.000Z",
                "additional_info": {
                    "monitoring_service": "Log Alerts V2",
                    "signal_type": "Log",
                    "essentials_version": "1.0",
                    "alert_context_version": "1.0",
                    "alert_target_ids": [WORKSPACE],
                },
            }
        ],
        id="log-alert-sev4-unicode-no-configuration-items",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(azure_monitor.parse(load(payload), {})) == expected


@pytest.mark.parametrize(
    ("severity", "condition", "expected"),
    [
        ("Sev0", "Fired", ("ALERT", "CRITICAL")),
        ("Sev2", "Fired", ("ALERT", "WARNING")),
        ("Sev3", "Resolved", ("RECOVERY", "INFO")),
        ("sev4", "fired", ("ALERT", "INFO")),
        ("Sev9", "Fired", ("ALERT", "NONE")),
        ("Sev0", "Acknowledged", ("ALERT", "NONE")),  # a condition SPEC does not name
    ],
)
def test_severity_and_condition(severity: str, condition: str, expected: tuple) -> None:
    payload = load("azure_monitor/metric_fired.json")
    payload["data"]["essentials"] |= {"severity": severity, "monitorCondition": condition}
    [event] = azure_monitor.parse(payload, {})
    assert (event.event_type, event.severity) == expected


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/a/databases/b",
            "Microsoft.Sql/servers/databases",
        ),
        ("/subscriptions/s/resourceGroups/g", ""),
        ("/subscriptions/s/providers/Microsoft.Web", ""),
        ("", ""),
    ],
)
def test_arm_resource_type(resource_id: str, expected: str) -> None:
    assert azure_monitor.arm_resource_type(resource_id) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Sev0", "Azure Monitor payload must be a JSON object, got text"),
        (
            {"schemaId": "Microsoft.Insights/activityLogs", "data": {}},
            "Azure Monitor schemaId 'Microsoft.Insights/activityLogs' is not supported; "
            "enable the common alert schema",
        ),
        ({"schemaId": "azureMonitorCommonAlertSchema"}, "Azure Monitor payload has no 'data'"),
        ({"data": {"alertContext": {}}}, "Azure Monitor data has no 'essentials' object"),
        ({"data": {"essentials": {"alertRule": "x"}}}, "Azure Monitor data.essentials has no"),
        (
            {"data": {"essentials": {"alertId": "a", "alertTargetIDs": "vm"}}},
            "Azure Monitor data.essentials.alertTargetIDs must be a list, got text",
        ),
        (
            {"data": {"essentials": {"alertId": "a", "firedDateTime": 1e400}}},
            "Azure Monitor data.essentials.firedDateTime must be a finite number",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        azure_monitor.parse(data, {})
