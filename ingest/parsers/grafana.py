"""Grafana webhooks, plugin id `grafana`: legacy dashboard alerts and unified alerting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ingest.parsers.common import (
    as_object,
    build_event,
    compact,
    fingerprint_key,
    first_text,
    get_list,
    get_object,
    get_text,
    lookup,
    md5_key,
    parse_time,
    require_list,
    resource_from_labels,
    text_map,
)
from schemas.event import EventType, ParsedEvent, Severity
from schemas.parser import ParseError

PROVIDER = "grafana"

# Legacy `state` → (event_type, severity); a state not listed is ALERT/NONE (SPEC §7 notes).
LEGACY_STATES = {
    "ok": (EventType.RECOVERY, Severity.INFO),
    "alerting": (EventType.ALERT, Severity.ERROR),
    "no_data": (EventType.ALERT, Severity.NONE),
}
# The state tag legacy Grafana puts in front of the rule name in `title`.
LEGACY_TITLE_TAG = re.compile(r"^\s*\[(?:alerting|ok|no data|pending|paused)\]\s*", re.IGNORECASE)
UNIFIED_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
}


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map a Grafana notification to events (SPEC §7); `options` unused.

    A payload with `alerts` is unified alerting, one with `dashboardId` is legacy.

    Legacy (one event per notification):

    | field           | from                                                                  |
    |-----------------|-----------------------------------------------------------------------|
    | event_key       | md5 of `dashboardId:panelId:ruleId:orgId` (all four required)         |
    | event_type/sev. | state ok → RECOVERY/INFO, alerting → ALERT/ERROR, no_data →           |
    |                 | ALERT/NONE, any other (paused, pending) → ALERT/NONE                  |
    | title           | title without its `[Alerting]`/`[OK]`/`[No Data]`/… tag ‖ ruleName   |
    | description     | message                                                               |
    | rule            | ruleName                                                              |
    | image_url       | imageUrl                                                              |
    | occurred_at     | none: the payload carries no time                                     |
    | additional_info | dashboard_id, panel_id, rule_id, org_id, rule_url, state, tags,       |
    |                 | eval_matches                                                          |

    Unified (one event per `alerts[]` entry, so each alert resolves on its own):

    | field           | from                                                                  |
    |-----------------|-----------------------------------------------------------------------|
    | event_key       | fingerprint; if absent, md5 of the labels as compact sorted-key JSON  |
    | event_type/sev. | status resolved → RECOVERY/INFO; firing → ALERT with labels.severity  |
    |                 | critical/error/warning/info → same, else ERROR; other → ALERT/NONE    |
    | title           | labels.alertname ‖ annotations.summary                                |
    | description     | annotations.description ‖ annotations.summary                         |
    | rule            | labels.rulename ‖ labels.alertname                                    |
    | resource        | as Alertmanager: first present label of instance, pod, container, …   |
    | image_url       | panelURL ‖ imageURL                                                   |
    | occurred_at     | endsAt for a resolved alert, else startsAt                            |
    | additional_info | labels + runbook_url, generator_url, dashboard_url, panel_url,        |
    |                 | silence_url, value_string, org_id                                     |

    provider is `grafana`; account is empty (Grafana knows no cloud account).
    """
    payload = as_object(data, "Grafana payload")
    if "alerts" in payload:
        alerts = require_list(payload, "alerts", "Grafana payload")
        org_id = get_text(payload, "orgId", "Grafana payload")
        return [
            _unified_event(alert, org_id, f"alerts[{index}]") for index, alert in enumerate(alerts)
        ]
    if "dashboardId" in payload:
        return [_legacy_event(payload)]
    raise ParseError(
        "Grafana payload is neither unified alerting (no 'alerts' list) "
        "nor a legacy dashboard alert (no 'dashboardId')"
    )


def _legacy_event(payload: Mapping[str, Any]) -> ParsedEvent:
    where = "Grafana legacy alert"
    ids = {}
    for key in ("dashboardId", "panelId", "ruleId", "orgId"):
        if payload.get(key) is None:
            raise ParseError(f"{where} has no '{key}'")
        ids[key] = get_text(payload, key, where)
    state = get_text(payload, "state", where)
    event_type, severity = lookup(LEGACY_STATES, state, (EventType.ALERT, Severity.NONE))
    rule_name = get_text(payload, "ruleName", where)
    return build_event(
        where,
        event_key=md5_key(*ids.values()),
        event_type=event_type,
        severity=severity,
        title=first_text(LEGACY_TITLE_TAG.sub("", get_text(payload, "title", where)), rule_name),
        description=get_text(payload, "message", where),
        rule=rule_name,
        image_url=get_text(payload, "imageUrl", where),
        provider=PROVIDER,
        additional_info=compact(
            {
                "dashboard_id": ids["dashboardId"],
                "panel_id": ids["panelId"],
                "rule_id": ids["ruleId"],
                "org_id": ids["orgId"],
                "rule_url": get_text(payload, "ruleUrl", where),
                "state": state,
                "tags": dict(get_object(payload, "tags", where)),
                "eval_matches": get_list(payload, "evalMatches", where),
            }
        ),
    )


def _unified_event(raw: Any, org_id: str, where: str) -> ParsedEvent:
    alert = as_object(raw, where)
    labels = text_map(alert, "labels", where)
    annotations = text_map(alert, "annotations", where)
    status = get_text(alert, "status", where).strip().lower()
    resolved = status == "resolved"
    if resolved:
        event_type, severity = EventType.RECOVERY, Severity.INFO
    elif status == "firing":
        severity = lookup(UNIFIED_SEVERITIES, labels.get("severity", ""), Severity.ERROR)
        event_type = EventType.ALERT
    else:
        event_type, severity = EventType.ALERT, Severity.NONE
    starts_at = parse_time(alert.get("startsAt"), f"{where}.startsAt")
    ends_at = parse_time(alert.get("endsAt"), f"{where}.endsAt")
    summary = annotations.get("summary", "")
    alertname = labels.get("alertname", "")
    urls = {
        "runbook_url": annotations.get("runbook_url", ""),
        "generator_url": get_text(alert, "generatorURL", where),
        "dashboard_url": get_text(alert, "dashboardURL", where),
        "panel_url": get_text(alert, "panelURL", where),
        "silence_url": get_text(alert, "silenceURL", where),
    }
    return build_event(
        where,
        event_key=fingerprint_key(alert, labels, where),
        event_type=event_type,
        severity=severity,
        title=first_text(alertname, summary),
        description=first_text(annotations.get("description", ""), summary),
        rule=first_text(labels.get("rulename", ""), alertname),
        resource=resource_from_labels(labels),
        provider=PROVIDER,
        image_url=first_text(urls["panel_url"], get_text(alert, "imageURL", where)),
        occurred_at=ends_at if resolved and ends_at else starts_at,
        additional_info={
            **labels,
            **compact(
                {
                    **{key: url.strip() for key, url in urls.items()},
                    "value_string": get_text(alert, "valueString", where).strip(),
                    "org_id": org_id,
                }
            ),
        },
    )
