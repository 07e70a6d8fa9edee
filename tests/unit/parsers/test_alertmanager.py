"""Alertmanager webhook v4 → events, payload file by payload file (SPEC §7)."""

from __future__ import annotations

import json

import pytest

from ingest.parsers import alertmanager
from tests.unit.parsers.helpers import as_json, load, md5, raises_parse_error

CPU_LABELS = {
    "alertname": "HighCPUUsage",
    "cluster": "prod-eu",
    "instance": "node-1.prod.example.com:9100",
    "job": "node",
    "rule_group": "node.rules",
    "severity": "critical",
}
CPU_GENERATOR = (
    "http://prometheus-0:9090/graph?g0.expr=100+-+avg+by+%28instance%29+%28rate%28"
    "node_cpu_seconds_total%7Bmode%3D%22idle%22%7D%5B5m%5D%29%29+%2A+100+%3E+90&g0.tab=1"
)
CPU_FIRING = {
    "event_key": "5b7a1c9f3e2d4a60",
    "event_type": "ALERT",
    "title": "CPU usage above 90% on node-1.prod.example.com:9100",
    "description": "CPU usage has been 97.3% for the last 5 minutes.",
    "severity": "CRITICAL",
    "rule": "node.rules",
    "resource": {
        "resource_id": "node-1.prod.example.com:9100",
        "resource_type": "instance",
        "name": "node-1.prod.example.com:9100",
    },
    "provider": "prometheus",
    "account": "",
    "image_url": "",
    "occurred_at": "2024-05-01T12:00:05.123Z",
    "additional_info": {
        **CPU_LABELS,
        "runbook_url": "https://runbooks.example.com/node/HighCPUUsage",
        "generator_url": CPU_GENERATOR,
    },
}
CRASH_LABELS = {
    "alertname": "KubePodCrashLooping",
    "cluster": "prod-eu",
    "container": "api",
    "namespace": "shop",
    "pod": "api-7d9c8b6f5-x2x9z",
    "severity": "warning",
}
DISK_LABELS = {"alertname": "DiskAlmostFull", "host": "서버-01", "mountpoint": "/var"}

CASES = [
    pytest.param(
        "alertmanager/firing_three_alerts.json",
        [
            CPU_FIRING,
            {
                "event_key": "0d3f6c2b9a8e7f11",
                "event_type": "ALERT",
                "title": "Pod is crash looping.",
                "description": (
                    "Pod shop/api-7d9c8b6f5-x2x9z (api) is in waiting state "
                    '(reason: "CrashLoopBackOff").'
                ),
                "severity": "WARNING",
                "rule": "",
                # pod comes before container in the resource label order
                "resource": {
                    "resource_id": "api-7d9c8b6f5-x2x9z",
                    "resource_type": "pod",
                    "name": "api-7d9c8b6f5-x2x9z",
                },
                "provider": "prometheus",
                "account": "",
                "image_url": "",
                "occurred_at": "2024-05-01T11:58:00.000Z",
                "additional_info": {
                    **CRASH_LABELS,
                    "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
                    "generator_url": "http://prometheus-0:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29+%3E%3D+1&g0.tab=1",
                },
            },
            {
                "event_key": "a1b2c3d4e5f60718",
                "event_type": "ALERT",
                "title": "BackupJobLate",  # no summary: the alert name
                "description": "",
                "severity": "INFO",
                "rule": "",
                "resource": {
                    "resource_id": "nightly-backup",
                    "resource_type": "job",
                    "name": "nightly-backup",
                },
                "provider": "prometheus",
                "account": "",
                "image_url": "",
                "occurred_at": "2024-05-01T04:00:00.000Z",  # +02:00 converted to UTC
                # empty generatorURL, no runbook: labels only
                "additional_info": {
                    "alertname": "BackupJobLate",
                    "cluster": "prod-eu",
                    "job": "nightly-backup",
                    "severity": "info",
                },
            },
        ],
        id="firing-three-alerts",
    ),
    pytest.param(
        "alertmanager/resolved_one_alert.json",
        # same key as the firing one; RECOVERY keeps the stated severity
        [{**CPU_FIRING, "event_type": "RECOVERY"}],
        id="resolved-pairs-with-firing",
    ),
    pytest.param(
        "alertmanager/unicode_no_fingerprint.json",
        [
            {
                "event_key": md5(json.dumps(DISK_LABELS, sort_keys=True, separators=(",", ":"))),
                "event_type": "ALERT",
                "title": "디스크 사용률 95% 초과 — /var 🚨",
                "description": "",
                "severity": "INFO",
                "rule": "",
                "resource": {"resource_id": "서버-01", "resource_type": "host", "name": "서버-01"},
                "provider": "prometheus",
                "account": "",
                "image_url": "",
                "occurred_at": "2024-05-01T12:00:00.000Z",
                "additional_info": {
                    **DISK_LABELS,
                    "generator_url": "http://prometheus:9090/graph?g0.expr=disk",
                },
            }
        ],
        id="unicode-and-no-fingerprint",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(alertmanager.parse(load(payload), {})) == expected


def test_resolved_without_fingerprint_pairs_with_firing() -> None:
    firing = load("alertmanager/unicode_no_fingerprint.json")
    resolved = json.loads(json.dumps(firing))
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2024-05-01T12:30:00Z"
    # label order in the payload must not change the key
    resolved["alerts"][0]["labels"] = dict(reversed(DISK_LABELS.items()))

    [alert] = alertmanager.parse(firing, {})
    [recovery] = alertmanager.parse(resolved, {})

    assert (alert.event_type, recovery.event_type) == ("ALERT", "RECOVERY")
    assert recovery.event_key == alert.event_key


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical"}, "CRITICAL"),
        ({"severity": "Error"}, "ERROR"),
        ({"severity": "warning"}, "WARNING"),
        ({"severity": "info"}, "INFO"),
        ({"severity": "page"}, "INFO"),
        ({}, "INFO"),
    ],
)
def test_severity_label(labels: dict, expected: str) -> None:
    alert = {"status": "firing", "fingerprint": "f1", "labels": labels}
    [event] = alertmanager.parse({"version": "4", "alerts": [alert]}, {})
    assert event.severity == expected


def test_empty_alerts_list_gives_no_events() -> None:
    assert alertmanager.parse({"version": "4", "status": "firing", "alerts": []}, {}) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not json object", "Alertmanager payload must be a JSON object, got text"),
        ({"version": "4", "status": "firing"}, "Alertmanager payload has no 'alerts' list"),
        ({"alerts": {"fingerprint": "x"}}, "Alertmanager payload has no 'alerts' list"),
        ({"alerts": ["x"]}, "alerts[0] must be a JSON object, got text"),
        ({"alerts": [{"fingerprint": "a", "labels": ["x"]}]}, "alerts[0].labels must be"),
        (
            {"alerts": [{"fingerprint": "a", "labels": {"severity": {"x": 1}}}]},
            "alerts[0].labels.severity must be text or a number, got object",
        ),
        ({"alerts": [{"status": "firing"}]}, "alerts[0] has neither a 'fingerprint' nor labels"),
        (
            {"alerts": [{"fingerprint": "a", "startsAt": "yesterday"}]},
            "alerts[0].startsAt is not a time: 'yesterday'",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        alertmanager.parse(data, {})
