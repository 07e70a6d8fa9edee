"""AWS SNS, plugin id `aws-sns`: CloudWatch alarms and AWS Health events, in or out of SNS."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ingest.parsers.common import (
    as_object,
    build_event,
    compact,
    first_text,
    get_list,
    get_object,
    get_text,
    lookup,
    md5_key,
    parse_time,
    require_text,
    scalar_text,
)
from schemas.event import EventType, ParsedEvent, Severity, format_timestamp
from schemas.parser import ParseError

PROVIDER = "aws"
# Only AWS's own SNS endpoint may be fetched to confirm a subscription.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com")
# URL parsers disagree on these; a URL that needs them is not one AWS sent.
UNSAFE_URL_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")
ALARM_STATES = {
    "ok": (EventType.RECOVERY, Severity.INFO),
    "alarm": (EventType.ALERT, Severity.ERROR),
    "insufficient_data": (EventType.ALERT, Severity.NOT_AVAILABLE),
}
HEALTH_ERROR_CATEGORIES = {"issue", "scheduledchange"}


def parse(data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Map an SNS delivery, or a bare CloudWatch alarm / AWS Health event, to events.

    `options` unused; signatures are checked before this, by the intake.

    SNS envelope (`Type`): Notification → its `Message`, a JSON string, is read below;
    SubscriptionConfirmation and UnsubscribeConfirmation → no events (the intake confirms
    through `subscription_confirmation`, since a parser does no I/O).

    CloudWatch alarm (has `AlarmArn`; one event):

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | md5(AlarmArn), so the OK notification pairs with the ALARM one     |
    | event_type/sev. | NewStateValue OK → RECOVERY/INFO, ALARM → ALERT/ERROR,             |
    |                 | INSUFFICIENT_DATA → ALERT/NOT_AVAILABLE, other → ALERT/NONE        |
    | title, rule     | AlarmName                                                          |
    | description     | NewStateReason                                                     |
    | resource        | resource_id and name = first dimension's value, resource_type =    |
    |                 | Trigger.Namespace (metric-math alarms: first Trigger.Metrics[]     |
    |                 | MetricStat.Metric)                                                 |
    | account         | AWSAccountId                                                       |
    | occurred_at     | StateChangeTime                                                    |
    | additional_info | alarm_arn, alarm_description, region, old_state, new_state,        |
    |                 | metric_name, namespace, dimensions {name: value}                   |

    AWS Health via EventBridge (`source` aws.health; one event):

    | field           | from                                                               |
    |-----------------|--------------------------------------------------------------------|
    | event_key       | detail.eventArn                                                    |
    | event_type      | detail.statusCode closed → RECOVERY, else ALERT                    |
    | severity        | detail.eventTypeCategory issue/scheduledChange → ERROR, else INFO  |
    |                 | (a RECOVERY keeps it: the row names no recovery severity)          |
    | title           | detail.eventTypeCode                                               |
    | description     | detail.eventDescription[].latestDescription, joined by blank lines |
    | rule            | detail.eventTypeCategory                                           |
    | resource        | resource_id and name = first affectedEntities[].entityValue ‖      |
    |                 | first resources[]; resource_type = detail.service                  |
    | account         | account                                                            |
    | occurred_at     | detail.endTime if closed, else detail.startTime ‖ time             |
    | additional_info | region, service, event_type_code, event_type_category,             |
    |                 | status_code, affected_entities [entityValue…], start_time,         |
    |                 | end_time (ISO)                                                     |

    provider is `aws` for both.
    """
    payload = as_object(data, "AWS SNS payload")
    if "AlarmArn" in payload:
        return [_alarm_event(payload, "CloudWatch alarm")]
    if payload.get("source") == "aws.health":
        return [_health_event(payload, "AWS Health event")]
    if "Type" not in payload:
        raise ParseError(
            "AWS SNS payload is neither an SNS message (no 'Type'), "
            "a CloudWatch alarm (no 'AlarmArn') nor an AWS Health event"
        )
    kind = get_text(payload, "Type", "AWS SNS payload")
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return []
    if kind != "Notification":
        raise ParseError(f"AWS SNS message Type {kind!r} is not a Notification")
    message = _decode_message(payload)
    if "AlarmArn" in message:
        return [_alarm_event(message, "SNS Message (CloudWatch alarm)")]
    if message.get("source") == "aws.health":
        return [_health_event(message, "SNS Message (AWS Health event)")]
    raise ParseError(
        "SNS Message is neither a CloudWatch alarm (no 'AlarmArn') "
        "nor an AWS Health event (source is not 'aws.health')"
    )


def subscription_confirmation(data: Any) -> str | None:
    """The SubscribeURL of an SNS SubscriptionConfirmation, if it is safe to GET.

    Safe means https to `sns.<region>.amazonaws.com` on the default port: anything else
    (other hosts, `sns.us-east-1.amazonaws.com.evil.com`, credentials in the URL) gives
    None, so a forged confirmation cannot make us fetch an arbitrary URL.
    """
    if not isinstance(data, Mapping) or data.get("Type") != "SubscriptionConfirmation":
        return None
    return sns_url(data.get("SubscribeURL"))


def sns_url(url: object) -> str | None:
    """`url` (stripped) if it is https to `sns.<region>.amazonaws.com` on the default port
    without credentials, else None: the one check before anything is fetched from AWS."""
    if not isinstance(url, str) or UNSAFE_URL_CHARACTERS.search(url.strip()):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return None
    if port not in (None, 443) or not SNS_HOST.fullmatch(parts.hostname or ""):
        return None
    return url.strip()


def _decode_message(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    text = envelope.get("Message")
    if not isinstance(text, str):
        raise ParseError("SNS Notification has no 'Message' text")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ParseError(
            "SNS Message is not JSON; expected a CloudWatch alarm or AWS Health event"
        ) from None
    return as_object(message, "SNS Message")


def _alarm_event(alarm: Mapping[str, Any], where: str) -> ParsedEvent:
    arn = require_text(alarm, "AlarmArn", where)
    new_state = get_text(alarm, "NewStateValue", where)
    event_type, severity = lookup(ALARM_STATES, new_state, (EventType.ALERT, Severity.NONE))
    trigger = get_object(alarm, "Trigger", where)
    namespace, metric_name, dimensions = _alarm_metric(trigger, f"{where}.Trigger")
    first_value = next(iter(dimensions.values()), "")
    name = get_text(alarm, "AlarmName", where)
    return build_event(
        where,
        event_key=md5_key(arn),
        event_type=event_type,
        severity=severity,
        title=name,
        description=get_text(alarm, "NewStateReason", where),
        rule=name,
        resource={"resource_id": first_value, "resource_type": namespace, "name": first_value},
        provider=PROVIDER,
        account=get_text(alarm, "AWSAccountId", where),
        occurred_at=parse_time(alarm.get("StateChangeTime"), f"{where}.StateChangeTime"),
        additional_info=compact(
            {
                "alarm_arn": arn,
                "alarm_description": get_text(alarm, "AlarmDescription", where),
                "region": get_text(alarm, "Region", where),
                "old_state": get_text(alarm, "OldStateValue", where),
                "new_state": new_state,
                "metric_name": metric_name,
                "namespace": namespace,
                "dimensions": dimensions,
            }
        ),
    )


def _alarm_metric(trigger: Mapping[str, Any], where: str) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric name, dimensions) of a single-metric or a metric-math alarm."""
    metric: Mapping[str, Any] = trigger
    if "Namespace" not in trigger:
        for index, query in enumerate(get_list(trigger, "Metrics", where)):
            query_where = f"{where}.Metrics[{index}]"
            stat = get_object(as_object(query, query_where), "MetricStat", query_where)
            if stat:
                metric = get_object(stat, "Metric", f"{query_where}.MetricStat")
                where = f"{query_where}.MetricStat.Metric"
                break
    dimensions: dict[str, str] = {}
    for index, raw in enumerate(get_list(metric, "Dimensions", where)):
        dimension = as_object(raw, f"{where}.Dimensions[{index}]")
        key = get_text(dimension, "name", f"{where}.Dimensions[{index}]")
        dimensions[key] = get_text(dimension, "value", f"{where}.Dimensions[{index}]")
    return (
        get_text(metric, "Namespace", where),
        get_text(metric, "MetricName", where),
        dimensions,
    )


def _health_event(event: Mapping[str, Any], where: str) -> ParsedEvent:
    detail = get_object(event, "detail", where)
    detail_where = f"{where}.detail"
    arn = require_text(detail, "eventArn", detail_where)
    category = get_text(detail, "eventTypeCategory", detail_where)
    status = get_text(detail, "statusCode", detail_where)
    descriptions = _field_of_each(detail, "eventDescription", "latestDescription", detail_where)
    entities = _field_of_each(detail, "affectedEntities", "entityValue", detail_where)
    resources = [
        scalar_text(item, f"{where}.resources[{index}]")
        for index, item in enumerate(get_list(event, "resources", where))
    ]
    resource_id = first_text(*entities, *resources)
    service = get_text(detail, "service", detail_where)
    is_error = category.strip().lower() in HEALTH_ERROR_CATEGORIES
    closed = status.strip().lower() == "closed"
    start_time = parse_time(detail.get("startTime"), f"{detail_where}.startTime") or parse_time(
        event.get("time"), f"{where}.time"
    )
    end_time = parse_time(detail.get("endTime"), f"{detail_where}.endTime")
    return build_event(
        where,
        event_key=arn,
        event_type=EventType.RECOVERY if closed else EventType.ALERT,
        severity=Severity.ERROR if is_error else Severity.INFO,
        title=get_text(detail, "eventTypeCode", detail_where),
        description="\n\n".join(descriptions),
        rule=category,
        resource={"resource_id": resource_id, "resource_type": service, "name": resource_id},
        provider=PROVIDER,
        account=get_text(event, "account", where),
        occurred_at=end_time if closed and end_time else start_time,
        additional_info=compact(
            {
                "region": get_text(event, "region", where),
                "service": service,
                "event_type_code": get_text(detail, "eventTypeCode", detail_where),
                "event_type_category": category,
                "status_code": status,
                "affected_entities": entities,
                "start_time": _iso(start_time),
                "end_time": _iso(end_time),
            }
        ),
    )


def _field_of_each(obj: Mapping[str, Any], key: str, field: str, where: str) -> list[str]:
    """`field` of every object in the list `obj[key]`, blanks dropped."""
    texts = []
    for index, item in enumerate(get_list(obj, key, where)):
        item_where = f"{where}.{key}[{index}]"
        if text := get_text(as_object(item, item_where), field, item_where).strip():
            texts.append(text)
    return texts


def _iso(value: datetime | None) -> str:
    return format_timestamp(value) if value else ""
