"""Google Cloud Monitoring, plugin id `google-monitoring`: webhook notification channels."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ingest.parsers.common import (
    as_object,
    build_event,
    compact,
    epoch_to_datetime,
    first_text,
    get_object,
    get_text,
    lookup,
    require_object,
    require_text,
    text_map,
)
from schemas.event import EventType, ParsedEvent, Severity

PROVIDER = "google_cloud"
STATES = {
    "closed": (EventType.RECOVERY, Severity.INFO),
    "open": (EventType.ALERT, Severity.WARNING),
}


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map one incident notification (schema version 1.2) to one event; `options` unused.

    From `incident`:

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | incident_id                                                        |
    | event_type/sev. | state closed → RECOVERY/INFO, open → ALERT/WARNING, other →        |
    |                 | ALERT/NONE                                                         |
    | title           | "condition_name (state)", condition_name ‖ policy_name             |
    | description     | summary                                                            |
    | rule            | policy_name                                                        |
    | resource        | resource_id = resource_id ‖ resource.labels.instance_id,           |
    |                 | resource_type = resource.type, name = resource_display_name ‖      |
    |                 | resource_name                                                      |
    | account         | scoping_project_id ‖ resource.labels.project_id                    |
    | occurred_at     | ended_at for a closed incident, else started_at (epoch seconds)    |
    | additional_info | url, policy_name, condition_name, documentation (content),         |
    |                 | observed_value, threshold_value, resource_labels                   |

    provider is `google_cloud`.
    """
    payload = as_object(data, "Google Cloud Monitoring payload")
    incident = require_object(payload, "incident", "Google Cloud Monitoring payload")
    where = "Google Cloud Monitoring incident"
    state = get_text(incident, "state", where).strip()
    event_type, severity = lookup(STATES, state, (EventType.ALERT, Severity.NONE))
    resource = get_object(incident, "resource", where)
    resource_labels = text_map(resource, "labels", f"{where}.resource")
    condition = first_text(
        get_text(incident, "condition_name", where), get_text(incident, "policy_name", where)
    )
    started_at = _epoch(incident, "started_at", where)
    ended_at = _epoch(incident, "ended_at", where)
    documentation = get_object(incident, "documentation", where)
    return [
        build_event(
            where,
            event_key=require_text(incident, "incident_id", where),
            event_type=event_type,
            severity=severity,
            title=f"{condition} ({state})" if state else condition,
            description=get_text(incident, "summary", where),
            rule=get_text(incident, "policy_name", where),
            resource={
                "resource_id": first_text(
                    get_text(incident, "resource_id", where),
                    resource_labels.get("instance_id", ""),
                ),
                "resource_type": get_text(resource, "type", f"{where}.resource"),
                "name": first_text(
                    get_text(incident, "resource_display_name", where),
                    get_text(incident, "resource_name", where),
                ),
            },
            provider=PROVIDER,
            account=first_text(
                get_text(incident, "scoping_project_id", where),
                resource_labels.get("project_id", ""),
            ),
            occurred_at=(ended_at or started_at)
            if event_type is EventType.RECOVERY
            else started_at,
            additional_info=compact(
                {
                    "url": get_text(incident, "url", where),
                    "policy_name": get_text(incident, "policy_name", where),
                    "condition_name": get_text(incident, "condition_name", where),
                    "documentation": get_text(documentation, "content", f"{where}.documentation"),
                    "observed_value": get_text(incident, "observed_value", where),
                    "threshold_value": get_text(incident, "threshold_value", where),
                    "resource_labels": resource_labels,
                }
            ),
        )
    ]


def _epoch(incident: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = incident.get(key)
    return None if value in (None, "") else epoch_to_datetime(value, f"{where}.{key}")
