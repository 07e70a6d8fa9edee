"""Prometheus Alertmanager webhook (v4), plugin id `prometheus`: one event per `alerts[]` entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.parsers.common import (
    as_object,
    build_event,
    fingerprint_key,
    first_text,
    get_text,
    lookup,
    parse_time,
    require_list,
    resource_from_labels,
    text_map,
)
from schemas.event import EventType, ParsedEvent, Severity

PROVIDER = "prometheus"
SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
}


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map an Alertmanager notification to one event per alert (SPEC §7); `options` unused.

    Per `alerts[i]`:

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | fingerprint; if absent, md5 of the labels as compact sorted-key    |
    |                 | JSON (so the firing and the resolved notification still pair)      |
    | event_type      | status `resolved` → RECOVERY, anything else → ALERT                |
    | severity        | labels.severity critical/error/warning → same, else INFO; a        |
    |                 | RECOVERY keeps it (the row names no recovery severity)             |
    | title           | annotations.summary ‖ labels.alertname                             |
    | description     | annotations.description                                            |
    | rule            | labels.rule_group                                                  |
    | resource        | first present label of instance, pod, container, node, host,       |
    |                 | service, job → {resource_id: value, resource_type: label, name:    |
    |                 | value}                                                             |
    | provider        | `prometheus`                                                       |
    | occurred_at     | startsAt (also for a resolved alert: when the problem began)       |
    | additional_info | labels + runbook_url (annotation) + generator_url (generatorURL)   |
    """
    payload = as_object(data, "Alertmanager payload")
    alerts = require_list(payload, "alerts", "Alertmanager payload")
    return [_to_event(alert, f"alerts[{index}]") for index, alert in enumerate(alerts)]


def _to_event(raw: Any, where: str) -> ParsedEvent:
    alert = as_object(raw, where)
    labels = text_map(alert, "labels", where)
    annotations = text_map(alert, "annotations", where)
    resolved = get_text(alert, "status", where).strip().lower() == "resolved"
    urls = {
        "runbook_url": annotations.get("runbook_url", "").strip(),
        "generator_url": get_text(alert, "generatorURL", where).strip(),
    }
    return build_event(
        where,
        event_key=fingerprint_key(alert, labels, where),
        event_type=EventType.RECOVERY if resolved else EventType.ALERT,
        severity=lookup(SEVERITIES, labels.get("severity", ""), Severity.INFO),
        title=first_text(annotations.get("summary", ""), labels.get("alertname", "")),
        description=annotations.get("description", ""),
        rule=labels.get("rule_group", ""),
        resource=resource_from_labels(labels),
        provider=PROVIDER,
        occurred_at=parse_time(alert.get("startsAt"), f"{where}.startsAt"),
        additional_info={**labels, **{key: url for key, url in urls.items() if url}},
    )
