"""Google Cloud Monitoring incidents → events (SPEC §7)."""

from __future__ import annotations

import pytest

from ingest.parsers import google_monitoring
from tests.unit.parsers.helpers import as_json, load, raises_parse_error

RESOURCE_LABELS = {
    "instance_id": "2790212846712345678",
    "project_id": "shop-prod-4711",
    "zone": "europe-west1-b",
}
OPEN = {
    "event_key": "0.mtdi83m6w8ao",
    "event_type": "ALERT",
    "title": "VM Instance - CPU utilization (open)",
    "description": (
        "CPU utilization for shop-prod-4711 web-1 is above the threshold of 0.500 "
        "with a value of 0.790."
    ),
    "severity": "WARNING",
    "rule": "web CPU policy",
    "resource": {
        "resource_id": "2790212846712345678",  # incident.resource_id is empty
        "resource_type": "gce_instance",
        "name": "web-1",
    },
    "provider": "google_cloud",
    "account": "shop-prod-4711",
    "image_url": "",
    "occurred_at": "2024-05-01T12:00:00.000Z",
    "additional_info": {
        "url": (
            "https://console.cloud.google.com/monitoring/alerting/incidents/"
            "0.mtdi83m6w8ao?project=shop-prod-4711"
        ),
        "policy_name": "web CPU policy",
        "condition_name": "VM Instance - CPU utilization",
        "documentation": "Check the web tier autoscaler.",
        "observed_value": "0.790",
        "threshold_value": "0.5",
        "resource_labels": RESOURCE_LABELS,
    },
}

CASES = [
    pytest.param("google_monitoring/incident_open.json", [OPEN], id="open"),
    pytest.param(
        "google_monitoring/incident_closed.json",
        [
            {
                **OPEN,
                "event_type": "RECOVERY",
                "severity": "INFO",
                "title": "VM Instance - CPU utilization (closed)",
                "description": (
                    "CPU utilization for shop-prod-4711 web-1 returned to normal "
                    "with a value of 0.210."
                ),
                "occurred_at": "2024-05-01T12:30:00.000Z",  # ended_at
                "additional_info": {**OPEN["additional_info"], "observed_value": "0.210"},
            }
        ],
        id="closed-pairs-with-open",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(google_monitoring.parse(load(payload), {})) == expected


def test_minimal_incident() -> None:
    data = {"version": "1.2", "incident": {"incident_id": "0.x", "policy_name": "ping"}}
    assert as_json(google_monitoring.parse(data, {})) == [
        {
            "event_key": "0.x",
            "event_type": "ALERT",
            "title": "ping",  # no condition, no state
            "description": "",
            "severity": "NONE",  # no state SPEC names
            "rule": "ping",
            "resource": {"resource_id": "", "resource_type": "", "name": ""},
            "provider": "google_cloud",
            "account": "",
            "image_url": "",
            "occurred_at": None,
            "additional_info": {"policy_name": "ping"},
        }
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (17, "Google Cloud Monitoring payload must be a JSON object, got number"),
        ({"version": "1.2"}, "Google Cloud Monitoring payload has no 'incident' object"),
        ({"incident": {"state": "open"}}, "Google Cloud Monitoring incident has no 'incident_id'"),
        (
            {"incident": {"incident_id": "i", "started_at": "yesterday"}},
            "Google Cloud Monitoring incident.started_at must be seconds since the epoch",
        ),
        (
            {"incident": {"incident_id": "i", "started_at": 10**20}},
            "Google Cloud Monitoring incident.started_at is out of range",
        ),
        (
            {"incident": {"incident_id": "i", "resource": {"labels": {"zone": ["a"]}}}},
            "Google Cloud Monitoring incident.resource.labels.zone must be text or a number",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        google_monitoring.parse(data, {})
