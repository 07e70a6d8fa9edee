"""Sample webhook payloads, shaped as each monitoring tool sends them, for `eventpipe demo`.

`payload(plugin_id, n, resolved)` gives the n-th alert of a source, firing or resolved, so
that a resolved one pairs with its firing twin; its times are `now` (default: the clock's)
less n seconds, so a fixed `now` makes the same payload every time (`tests/golden`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

HOSTS = ["web-1", "web-2", "db-1", "cache-1", "queue-1"]
CHECKS = [
    ("HighCPU", "CPU above 90%", "critical"),
    ("DiskFull", "Disk usage above 95%", "error"),
    ("HighLatency", "p99 latency above 2 s", "warning"),
    ("InstanceDown", "Target is unreachable", "critical"),
]


def _ago(now: datetime | None, n: int) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(seconds=n)


def _stamp(now: datetime | None, n: int) -> str:
    return _ago(now, n).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def alertmanager(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    name, summary, severity = CHECKS[n % len(CHECKS)]
    host = HOSTS[n % len(HOSTS)]
    status = "resolved" if resolved else "firing"
    return {
        "version": "4", "status": status, "receiver": "eventpipe",
        "groupKey": f'{{}}:{{alertname="{name}"}}', "groupLabels": {"alertname": name},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "severity": severity, "instance": f"{host}:9100",
                       "job": "node"},
            "annotations": {"summary": summary, "description": f"{summary} on {host}"},
            "startsAt": _stamp(now, n),
            "endsAt": _stamp(now, 0) if resolved else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"{n % 40:016x}",
        }],
    }  # fmt: skip


def grafana(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    name, summary, severity = CHECKS[n % len(CHECKS)]
    status = "resolved" if resolved else "firing"
    return {
        "receiver": "eventpipe", "status": status, "orgId": 1, "version": "1",
        "groupKey": "{}:{}", "title": f"[{status.upper()}] {name}",
        "alerts": [{
            "status": status, "labels": {"alertname": name, "severity": severity},
            "annotations": {"summary": summary}, "startsAt": _stamp(now, n),
            "endsAt": _stamp(now, 0) if resolved else "0001-01-01T00:00:00Z",
            "fingerprint": f"g{n % 40:015x}", "panelURL": "http://grafana:3000/d/abc?viewPanel=2",
        }],
    }  # fmt: skip


def aws_sns(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    host = HOSTS[n % len(HOSTS)]
    alarm = {
        "AlarmName": f"{host}-cpu-high", "AWSAccountId": "123456789012",
        "NewStateValue": "OK" if resolved else "ALARM",
        "NewStateReason": "Threshold crossed", "StateChangeTime": _stamp(now, n),
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{host}-cpu-high",
        "Trigger": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                    "Dimensions": [{"name": "InstanceId", "value": f"i-{n % 5:017x}"}]},
    }  # fmt: skip
    return {
        "Type": "Notification", "MessageId": f"msg-{n}", "Subject": "ALARM",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "Message": json.dumps(alarm), "Timestamp": _stamp(now, n),
    }  # fmt: skip


def azure_monitor(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    host = HOSTS[n % len(HOSTS)]
    subscription = "/subscriptions/1111-2222"
    target = f"{subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{host}"
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": {
            "alertId": f"{subscription}/providers/Microsoft.AlertsManagement/alerts/{n % 30}",
            "alertRule": "cpu-high", "severity": f"Sev{n % 5}", "signalType": "Metric",
            "monitorCondition": "Resolved" if resolved else "Fired",
            "monitoringService": "Platform", "alertTargetIDs": [target],
            "configurationItems": [host], "firedDateTime": _stamp(now, n),
            "description": "CPU is high", "essentialsVersion": "1.0",
        }, "alertContext": {}},
    }  # fmt: skip


def google_monitoring(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    started = int(_ago(now, n).timestamp())
    return {
        "version": "1.2",
        "incident": {
            "incident_id": f"0.{n % 30:08d}", "scoping_project_id": "demo-project",
            "resource_id": "", "resource_name": f"{HOSTS[n % len(HOSTS)]}",
            "resource": {"type": "gce_instance", "labels": {"instance_id": str(n % 5)}},
            "started_at": started, "ended_at": started + 60 if resolved else None,
            "state": "closed" if resolved else "open", "summary": "CPU utilization is high",
            "policy_name": "cpu-policy", "condition_name": "CPU above 80%",
            "url": "https://console.cloud.google.com/monitoring",
        },
    }  # fmt: skip


def zabbix(n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    host = HOSTS[n % len(HOSTS)]
    return {
        "event": {"id": str(n % 30), "name": "Zabbix agent is not available",
                  "severity": ["High", "Disaster", "Average", "Warning"][n % 4],
                  "status": "RESOLVED" if resolved else "PROBLEM",
                  "date": "2024.05.01", "time": "10:00:00", "value": "0" if resolved else "1"},
        "host": {"id": str(10084 + n % 5), "name": host, "ip": f"10.0.0.{n % 5}"},
        "trigger": {"id": "13491", "name": "Agent unavailable", "description": "No data"},
    }  # fmt: skip


SOURCES = {
    "prometheus": alertmanager,
    "grafana": grafana,
    "aws-sns": aws_sns,
    "azure-monitor": azure_monitor,
    "google-monitoring": google_monitoring,
    "zabbix": zabbix,
}


def payload(plugin_id: str, n: int, resolved: bool, now: datetime | None = None) -> dict[str, Any]:
    return SOURCES[plugin_id](n, resolved, now)
