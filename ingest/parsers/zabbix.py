"""Zabbix, plugin id `zabbix`: the JSON our Zabbix webhook media-type script posts.

The script (a Zabbix media type of type Webhook) fills these fields from macros:

    {"event":   {"id": "{EVENT.ID}", "name": "{EVENT.NAME}", "severity": "{EVENT.SEVERITY}",
                 "status": "{EVENT.STATUS}", "date": "{EVENT.DATE}", "time": "{EVENT.TIME}",
                 "value": "{EVENT.VALUE}"},
     "host":    {"id": "{HOST.ID}", "name": "{HOST.NAME}", "ip": "{HOST.IP}"},
     "trigger": {"id": "{TRIGGER.ID}", "name": "{TRIGGER.NAME}",
                 "description": "{TRIGGER.DESCRIPTION}"},
     "item":    {"id": "{ITEM.ID}", "name": "{ITEM.NAME}", "key": "{ITEM.KEY}",
                 "value": "{ITEM.VALUE}"},
     "message": "{ALERT.MESSAGE}"}

`message` is optional; so are item and trigger. For a recovery Zabbix sends the same event
id (`{EVENT.ID}` is the problem's), which is what pairs the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ingest.parsers.common import (
    as_object,
    build_event,
    compact,
    first_text,
    get_object,
    get_text,
    lookup,
    md5_key,
    require_object,
    require_text,
    scalar_text,
)
from schemas.event import EventType, ParsedEvent, Severity
from schemas.parser import ParseError

PROVIDER = "zabbix"
SEVERITIES = {
    "disaster": Severity.CRITICAL,
    "high": Severity.ERROR,
    "average": Severity.WARNING,
    "warning": Severity.WARNING,
    "information": Severity.INFO,
    "not classified": Severity.NOT_AVAILABLE,
}
UTC_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map one Zabbix media-type notification to one event (SPEC §7).

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | md5 of `host.id:event.id` (both required)                          |
    | event_type/sev. | event.status RESOLVED → RECOVERY/INFO; anything else → ALERT with  |
    |                 | event.severity Disaster CRITICAL, High ERROR, Average/Warning      |
    |                 | WARNING, Information INFO, Not classified NOT_AVAILABLE, else NONE |
    | title           | event.name ‖ trigger.name                                          |
    | description     | trigger.description ‖ message                                      |
    | rule            | trigger.name                                                       |
    | resource        | resource_id = host.id, resource_type = `host`, name = host.name    |
    | occurred_at     | event.date + event.time (`2021.08.27` `11:58:49`), read in the     |
    |                 | `utc_offset` option (e.g. `+09:00`, default UTC): Zabbix writes    |
    |                 | them in the server's local time                                    |
    | additional_info | host_ip, trigger_id, event_id, event_value, event_status,          |
    |                 | event_severity, item_id, item_name, item_key, item_value           |

    provider is `zabbix`; account is empty.
    """
    payload = as_object(data, "Zabbix payload")
    event = require_object(payload, "event", "Zabbix payload")
    host = require_object(payload, "host", "Zabbix payload")
    trigger = get_object(payload, "trigger", "Zabbix payload")
    item = get_object(payload, "item", "Zabbix payload")
    event_id = require_text(event, "id", "Zabbix event")
    host_id = require_text(host, "id", "Zabbix host")
    status = get_text(event, "status", "Zabbix event")
    severity_name = get_text(event, "severity", "Zabbix event")
    if status.strip().upper() == "RESOLVED":
        event_type, severity = EventType.RECOVERY, Severity.INFO
    else:
        event_type = EventType.ALERT
        severity = lookup(SEVERITIES, severity_name, Severity.NONE)
    trigger_name = get_text(trigger, "name", "Zabbix trigger")
    return [
        build_event(
            "Zabbix event",
            event_key=md5_key(host_id, event_id),
            event_type=event_type,
            severity=severity,
            title=first_text(get_text(event, "name", "Zabbix event"), trigger_name),
            description=first_text(
                get_text(trigger, "description", "Zabbix trigger"),
                get_text(payload, "message", "Zabbix payload"),
            ),
            rule=trigger_name,
            resource={
                "resource_id": host_id,
                "resource_type": "host",
                "name": get_text(host, "name", "Zabbix host"),
            },
            provider=PROVIDER,
            occurred_at=_occurred_at(event, _utc_offset(options)),
            additional_info=compact(
                {
                    "host_ip": get_text(host, "ip", "Zabbix host"),
                    "trigger_id": get_text(trigger, "id", "Zabbix trigger"),
                    "event_id": event_id,
                    "event_value": get_text(event, "value", "Zabbix event"),
                    "event_status": status,
                    "event_severity": severity_name,
                    "item_id": get_text(item, "id", "Zabbix item"),
                    "item_name": get_text(item, "name", "Zabbix item"),
                    "item_key": get_text(item, "key", "Zabbix item"),
                    "item_value": get_text(item, "value", "Zabbix item"),
                }
            ),
        )
    ]


def _utc_offset(options: Mapping[str, Any]) -> timezone:
    """The `utc_offset` option, `+HH:MM`, the zone the Zabbix server writes times in."""
    raw = options.get("utc_offset") if isinstance(options, Mapping) else None
    if raw is None or raw == "":
        return UTC
    text = scalar_text(raw, "option 'utc_offset'").strip()
    match = UTC_OFFSET.fullmatch(text)
    if not match or int(match[2]) > 23 or int(match[3]) > 59:
        raise ParseError(f"option 'utc_offset' must look like +09:00, got {text!r}")
    offset = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-offset if match[1] == "-" else offset)


def _occurred_at(event: Mapping[str, Any], zone: timezone) -> datetime | None:
    date = get_text(event, "date", "Zabbix event").strip()
    time = get_text(event, "time", "Zabbix event").strip()
    if not date:
        return None
    try:
        local = datetime.strptime(f"{date} {time or '00:00:00'}", "%Y.%m.%d %H:%M:%S")
        return local.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ParseError(
            f"Zabbix event date/time must look like 2024.05.01 13:45:00, got {date!r} {time!r}"
        ) from None
