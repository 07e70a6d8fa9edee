"""Azure Monitor, plugin id `azure-monitor`: action-group webhooks in the common alert schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ingest.parsers.common import (
    as_object,
    build_event,
    compact,
    get_list,
    get_text,
    lookup,
    parse_time,
    require_object,
    require_text,
    scalar_text,
)
from schemas.event import EventType, ParsedEvent, Severity
from schemas.parser import ParseError

PROVIDER = "azure"
SCHEMA_ID = "azureMonitorCommonAlertSchema"
CONDITIONS = {"fired": EventType.ALERT, "resolved": EventType.RECOVERY}
SEVERITIES = {
    "sev0": Severity.CRITICAL,
    "sev1": Severity.ERROR,
    "sev2": Severity.WARNING,
    "sev3": Severity.INFO,
    "sev4": Severity.INFO,
}
SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
PROVIDERS_SEGMENT = re.compile(r"/providers/", re.IGNORECASE)


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map one common-alert-schema notification to one event (SPEC §7); `options` unused.

    From `data.essentials`:

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | alertId                                                            |
    | event_type      | monitorCondition Fired → ALERT, Resolved → RECOVERY; any other     |
    |                 | → ALERT with severity NONE                                         |
    | severity        | Sev0 CRITICAL, Sev1 ERROR, Sev2 WARNING, Sev3/Sev4 INFO, else NONE |
    |                 | (a RECOVERY keeps it: the row names no recovery severity)          |
    | title, rule     | alertRule                                                          |
    | description     | description                                                        |
    | resource        | resource_id = alertTargetIDs[0], name = configurationItems[0],     |
    |                 | resource_type = ARM type from the target id                        |
    |                 | (`Microsoft.Compute/virtualMachines`)                              |
    | account         | subscription id from alertTargetIDs[0] (`/subscriptions/<id>/…`)  |
    | occurred_at     | resolvedDateTime for a Resolved alert, else firedDateTime          |
    | additional_info | monitoring_service, signal_type, essentials_version,               |
    |                 | alert_context_version, alert_target_ids, configuration_items       |

    The older per-service schemas are rejected with a hint to enable the common schema.
    provider is `azure`.
    """
    payload = as_object(data, "Azure Monitor payload")
    schema_id = get_text(payload, "schemaId", "Azure Monitor payload")
    if schema_id and schema_id != SCHEMA_ID:
        raise ParseError(
            f"Azure Monitor schemaId {schema_id!r} is not supported; "
            f"enable the common alert schema ({SCHEMA_ID}) on the action group"
        )
    body = require_object(payload, "data", "Azure Monitor payload")
    where = "Azure Monitor data.essentials"
    essentials = require_object(body, "essentials", "Azure Monitor data")
    targets = _texts(essentials, "alertTargetIDs", where)
    items = _texts(essentials, "configurationItems", where)
    target = targets[0] if targets else ""
    condition = get_text(essentials, "monitorCondition", where)
    event_type = lookup(CONDITIONS, condition, None)
    severity = lookup(SEVERITIES, get_text(essentials, "severity", where), Severity.NONE)
    if event_type is None:
        event_type, severity = EventType.ALERT, Severity.NONE
    time_key = "resolvedDateTime" if event_type is EventType.RECOVERY else "firedDateTime"
    occurred_at = parse_time(essentials.get(time_key), f"{where}.{time_key}") or parse_time(
        essentials.get("firedDateTime"), f"{where}.firedDateTime"
    )
    rule = get_text(essentials, "alertRule", where)
    subscription = SUBSCRIPTION.match(target)
    return [
        build_event(
            "Azure Monitor alert",
            event_key=require_text(essentials, "alertId", where),
            event_type=event_type,
            severity=severity,
            title=rule,
            description=get_text(essentials, "description", where),
            rule=rule,
            resource={
                "resource_id": target,
                "resource_type": arm_resource_type(target),
                "name": items[0] if items else "",
            },
            provider=PROVIDER,
            account=subscription.group(1) if subscription else "",
            occurred_at=occurred_at,
            additional_info=compact(
                {
                    "monitoring_service": get_text(essentials, "monitoringService", where),
                    "signal_type": get_text(essentials, "signalType", where),
                    "essentials_version": get_text(essentials, "essentialsVersion", where),
                    "alert_context_version": get_text(essentials, "alertContextVersion", where),
                    "alert_target_ids": targets,
                    "configuration_items": items,
                }
            ),
        )
    ]


def arm_resource_type(resource_id: str) -> str:
    """`Namespace/type[/child type…]` of an Azure resource id, or "" if it names none.

    `/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/a/databases/b`
    → `Microsoft.Sql/servers/databases`.
    """
    pieces = PROVIDERS_SEGMENT.split(resource_id)
    if len(pieces) < 2:
        return ""
    segments = [segment for segment in pieces[-1].split("/") if segment]
    if len(segments) < 2:
        return ""
    return "/".join([segments[0], *segments[1::2]])


def _texts(obj: Mapping[str, Any], key: str, where: str) -> list[str]:
    return [
        scalar_text(item, f"{where}.{key}[{index}]").strip()
        for index, item in enumerate(get_list(obj, key, where))
    ]
