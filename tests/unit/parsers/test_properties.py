"""Whatever JSON arrives, a parser returns events or raises ParseError — nothing else.

SPEC §4.3 turns a ParseError into one ERROR event; any other exception would escape
that and stall the stream, so every parser is fed random JSON, random near-misses of
real payloads, and real payloads with random parts swapped or dropped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.parsers import alertmanager, aws_sns, registry
from schemas.event import ParsedEvent
from schemas.parser import ParseError, Parser
from tests.unit.parsers.helpers import PAYLOADS, load

PARSERS = {plugin_id: registry.get_parser(plugin_id) for plugin_id in registry.BUILTIN}
PAYLOAD_FILES = sorted(str(path.relative_to(PAYLOADS)) for path in PAYLOADS.rglob("*.json"))
# One parser per payload folder.
PARSER_OF_FOLDER = {
    "alertmanager": "prometheus",
    "grafana": "grafana",
    "aws_sns": "aws-sns",
    "azure_monitor": "azure-monitor",
    "google_monitoring": "google-monitoring",
    "zabbix": "zabbix",
    "standard": "standard",
}
# Keys the parsers look for, so random objects often look half right.
KNOWN_KEYS = st.sampled_from(
    [
        "alerts", "labels", "annotations", "fingerprint", "status", "startsAt", "severity",
        "instance", "alertname", "summary", "dashboardId", "panelId", "ruleId", "orgId",
        "state", "title", "evalMatches", "tags", "Type", "Message", "SubscribeURL",
        "AlarmArn", "NewStateValue", "Trigger", "Dimensions", "Metrics", "MetricStat",
        "Metric", "Namespace", "StateChangeTime", "source", "detail", "eventArn",
        "eventDescription", "affectedEntities", "resources", "startTime", "schemaId",
        "data", "essentials", "alertId", "alertTargetIDs", "configurationItems",
        "monitorCondition", "firedDateTime", "incident", "incident_id", "started_at",
        "ended_at", "resource", "event", "host", "trigger", "item", "id", "date", "time",
        "event_key", "event_type", "occurred_at", "additional_info", "utc_offset",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["firing", "resolved", "ok", "2024-05-01T12:00:00Z", "aws.health"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KNOWN_KEYS | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
OPTIONS = st.dictionaries(KNOWN_KEYS, JSON, max_size=2) | st.sampled_from(
    [{}, {"utc_offset": "+09:00"}, {"utc_offset": "-03:30"}]
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Non-empty text first: an empty string reads as "missing", which every parser handles.
REPLACEMENTS = st.text(min_size=1) | SCALARS | JSON


@st.composite
def mutated(draw: st.DrawFn, value: Any, top: bool = True) -> Any:
    """`value` with random parts replaced or dropped, inside SNS Messages too."""
    if not top and draw(st.integers(0, 7)) == 0:
        return draw(REPLACEMENTS)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if draw(st.integers(0, 9)) == 0:
                continue
            if key == "Message" and isinstance(item, str) and item.startswith("{"):
                result[key] = json.dumps(draw(mutated(json.loads(item), top=False)))
            else:
                result[key] = draw(mutated(item, top=False))
        return result
    if isinstance(value, list):
        return [draw(mutated(item, top=False)) for item in value if draw(st.integers(0, 9))]
    return value


def parse_or_fail(parser: Parser, data: Any, options: Mapping[str, Any]) -> list[ParsedEvent]:
    """Run `parser`; a ParseError is re-raised, any other outcome is checked here."""
    before = copy.deepcopy(data)
    try:
        events = parser(data, options)
    except ParseError as exc:
        assert str(exc).strip(), "a ParseError must say what is wrong"
        assert data == before, "a parser must not change its input"
        raise
    assert isinstance(events, list)
    assert all(isinstance(event, ParsedEvent) and event.event_key for event in events)
    assert data == before, "a parser must not change its input"
    assert parser(data, options) == events, "a parser must be deterministic"
    return events


def events_or_none(parser: Parser, data: Any, options: Mapping[str, Any]) -> list | None:
    try:
        return parse_or_fail(parser, data, options)
    except ParseError:
        return None


@pytest.mark.parametrize("plugin_id", sorted(PARSERS))
@FUZZ
@given(data=JSON, options=OPTIONS)
def test_any_json_gives_events_or_parse_error(plugin_id: str, data: Any, options: dict) -> None:
    events_or_none(PARSERS[plugin_id], data, options)


@pytest.mark.parametrize("payload", PAYLOAD_FILES)
@FUZZ
@given(data=st.data())
def test_damaged_payloads_give_events_or_parse_error(payload: str, data: st.DataObject) -> None:
    parser = PARSERS[PARSER_OF_FOLDER[payload.split("/")[0]]]
    events_or_none(parser, data.draw(mutated(load(payload))), {})


ALERT_ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["firing", "resolved", "", "FIRING"]) | JSON,
        "labels": st.dictionaries(st.text(max_size=10), st.text(max_size=10)) | JSON,
        "annotations": st.dictionaries(st.sampled_from(["summary", "description"]), st.text())
        | JSON,
        "startsAt": st.datetimes().map(lambda moment: moment.isoformat() + "Z") | JSON,
        "endsAt": st.just("0001-01-01T00:00:00Z") | JSON,
        "generatorURL": st.text() | JSON,
        "fingerprint": st.text(max_size=16) | JSON,
    },
)


@FUZZ
@given(alerts=st.lists(ALERT_ENTRY | JSON, max_size=5), status=JSON)
def test_alertmanager_gives_one_event_per_alert_or_parse_error(alerts: list, status: Any) -> None:
    payload = {"version": "4", "status": status, "alerts": alerts}
    events = events_or_none(alertmanager.parse, payload, {})
    if events is not None:
        assert len(events) == len(alerts)


@FUZZ
@given(
    message=st.text()
    | JSON.map(json.dumps)
    | mutated(json.loads(load("aws_sns/cloudwatch_alarm.json")["Message"])).map(json.dumps)
    | mutated(json.loads(load("aws_sns/health_issue_open.json")["Message"])).map(json.dumps),
    kind=st.sampled_from(["Notification", "SubscriptionConfirmation"]) | JSON,
)
def test_sns_with_any_message_gives_events_or_parse_error(message: str, kind: Any) -> None:
    envelope = {**load("aws_sns/cloudwatch_alarm.json"), "Type": kind, "Message": message}
    events = events_or_none(aws_sns.parse, envelope, {})
    if events is not None:
        assert len(events) <= 1


@FUZZ
@given(data=JSON | mutated(load("aws_sns/subscription_confirmation.json")))
def test_subscription_confirmation_returns_only_sns_urls(data: Any) -> None:
    url = aws_sns.subscription_confirmation(data)
    assert url is None or url.startswith("https://sns.")
