"""KQL -> Query (SPEC §11): each form, table-driven; errors name the position or the field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from query_api.query.kql import ALERTS, EVENTS, KqlError, compile_kql, field_names, tokenize
from query_api.query.translate import build_filter
from schemas.console import KqlFilter
from schemas.index import FieldMap
from schemas.query import Query

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def c(k: str, v: Any, o: str = "eq") -> dict[str, Any]:
    return {"k": k, "v": v, "o": o}


def q(*filter: dict[str, Any], any_of: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"filter": list(filter), "filter_or": list(any_of)}


CASES: list[tuple[str, dict[str, Any]]] = [
    ("", q()),
    ("   ", q()),
    # field:value; enumerated fields in any case
    ("severity:CRITICAL", q(c("severity", "CRITICAL"))),
    ("severity:critical", q(c("severity", "CRITICAL"))),
    ('severity:"Critical"', q(c("severity", "CRITICAL"))),
    ("event_type:recovery", q(c("event_type", "RECOVERY"))),
    ("provider:zabbix", q(c("provider", "zabbix"))),
    ("provider : zabbix", q(c("provider", "zabbix"))),
    ("resource.name:web-1", q(c("resource.name", "web-1"))),
    ("additional_info.instance:host-21", q(c("additional_info.instance", "host-21"))),
    # text fields: substring; phrases
    ("title:disk", q(c("title", "disk", "contain"))),
    ('title:"disk full"', q(c("title", "disk full", "contain"))),
    ('title:"say \\"hi\\""', q(c("title", 'say "hi"', "contain"))),
    # and / or / not in any case; one field's values ORed become one condition
    ("severity:CRITICAL OR severity:WARNING", q(c("severity", ["CRITICAL", "WARNING"], "in"))),
    ("severity:(CRITICAL OR warning)", q(c("severity", ["CRITICAL", "WARNING"], "in"))),
    ("severity:(CRITICAL warning)", q(c("severity", ["CRITICAL", "WARNING"], "in"))),
    ("provider:a and rule:b", q(c("provider", "a"), c("rule", "b"))),
    ("provider:a AND rule:b", q(c("provider", "a"), c("rule", "b"))),
    ("provider:a rule:b", q(c("provider", "a"), c("rule", "b"))),
    ("provider:a Or rule:b", q(any_of=(c("provider", "a"), c("rule", "b")))),
    ("NOT provider:a", q(c("provider", "a", "not"))),
    ("not severity:(info or none)", q(c("severity", ["INFO", "NONE"], "not_in"))),
    ("not title:disk", q(c("title", "disk", "not_contain"))),
    ("not (provider:a and rule:b)", q(any_of=(c("provider", "a", "not"), c("rule", "b", "not")))),
    ("not not provider:a", q(c("provider", "a"))),
    ("-provider:a", q(c("provider", "a", "not"))),
    ("provider:(a and not b)", q(c("provider", "a"), c("provider", "b", "not"))),
    ("not title:disk and not title:cpu", q(c("title", ["disk", "cpu"], "not_contain_in"))),
    (
        "severity:ERROR and (provider:a or rule:b)",
        q(c("severity", "ERROR"), any_of=(c("provider", "a"), c("rule", "b"))),
    ),
    # (a and b) or a  ->  a  (absorption)
    ("(provider:a and rule:b) or provider:a", q(c("provider", "a"))),
    ("title:(disk or cpu)", q(c("title", ["disk", "cpu"], "contain_in"))),
    # exists
    ("occurred_at:*", q(c("occurred_at", True, "exists"))),
    ("not occurred_at:*", q(c("occurred_at", False, "exists"))),
    # wildcards
    ("title:*disk*", q(c("title", "disk", "contain"))),
    ("title:disk*", q(c("title", "disk", "contain"))),
    ("title:disk*full", q(c("title", "disk.*full", "regex"))),
    ("provider:*abb*", q(c("provider", "abb", "contain"))),
    ("not provider:*abb*", q(c("provider", "abb", "not_contain"))),
    ("resource.name:web-*", q(c("resource.name", "^web\\-.*$", "regex"))),
    ("resource.name:web\\*", q(c("resource.name", "web*"))),
    ("severity:*R*", q(c("severity", ["CRITICAL", "ERROR", "WARNING"], "in"))),
    ("severity:crit*", q(c("severity", "CRITICAL"))),
    # ranges: severity order, dates, now-math
    ("severity >= WARNING", q(c("severity", ["CRITICAL", "ERROR", "WARNING"], "in"))),
    ("severity > warning", q(c("severity", ["CRITICAL", "ERROR"], "in"))),
    ("severity <= INFO", q(c("severity", ["INFO", "NOT_AVAILABLE", "NONE"], "in"))),
    ("severity < ERROR", q(c("severity", ["WARNING", "INFO", "NOT_AVAILABLE", "NONE"], "in"))),
    ("severity:>=error", q(c("severity", ["CRITICAL", "ERROR"], "in"))),
    ("not severity >= ERROR", q(c("severity", ["CRITICAL", "ERROR"], "not_in"))),
    ("created_at >= now-1h", q(c("created_at", "now-1h", "timediff_gte"))),
    ("created_at < NOW/d", q(c("created_at", "now/d", "timediff_lt"))),
    (
        "created_at >= 2026-12-05T10:00",
        q(c("created_at", "2026-12-05T10:00:00.000Z", "datetime_gte")),
    ),
    (
        "created_at > 2026-12-05T10:00:00+01:00",
        q(c("created_at", "2026-12-05T09:00:00.000Z", "datetime_gt")),
    ),
    (
        "created_at:2026-12-05",
        q(
            c("created_at", "2026-12-05T00:00:00.000Z", "datetime_gte"),
            c("created_at", "2026-12-06T00:00:00.000Z", "datetime_lt"),
        ),
    ),
    ('created_at:"2026-12-05T10:00:00Z"', q(c("created_at", "2026-12-05T10:00:00.000Z"))),
    # a negated range holds where the field is missing too, unless every event has it
    ("not created_at >= now-1h", q(c("created_at", "now-1h", "timediff_lt"))),
    (
        "not occurred_at > now-1d",
        q(any_of=(c("occurred_at", "now-1d", "timediff_lte"), c("occurred_at", False, "exists"))),
    ),
    ("title > m", q(c("title", "m", "gt"))),
    # free text: every text, keyword and flattened field
    (
        "host-21",
        q(
            any_of=(
                c("event_id", "host-21"),
                c("event_key", "host-21"),
                c("title", "host-21", "contain"),
                c("description", "host-21", "contain"),
                c("rule", "host-21"),
                c("resource.resource_id", "host-21"),
                c("resource.resource_type", "host-21"),
                c("resource.name", "host-21"),
                c("provider", "host-21"),
                c("account", "host-21"),
                c("image_url", "host-21"),
                c("additional_info", "host-21"),
                c("alert_id", "host-21"),
                c("webhook_id", "host-21"),
                c("project_id", "host-21"),
                c("domain_id", "host-21"),
            )
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_compiles(text: str, expected: dict[str, Any]) -> None:
    assert compile_kql(text, now=NOW) == expected


def test_free_text_alternatives_are_words_of_each_field() -> None:
    query = compile_kql("disk full", now=NOW)
    by_key = {(cond["k"], cond["o"]): cond["v"] for cond in query["filter_or"]}
    assert by_key[("title", "contain_in")] == ["disk", "full"]
    assert by_key[("event_key", "in")] == ["disk", "full"]
    assert by_key[("additional_info", "in")] == ["disk", "full"]
    assert query["filter"] == []


def test_free_text_matches_enumerated_values_in_any_case() -> None:
    query = compile_kql("critical", now=NOW)
    assert c("severity", "CRITICAL") in query["filter_or"]
    assert not any(cond["k"] == "event_type" for cond in query["filter_or"])


def test_negated_free_text_is_anded() -> None:
    query = compile_kql("severity:INFO and not cpu", now=NOW)
    assert query["filter_or"] == []
    assert c("severity", "INFO") in query["filter"]
    assert c("title", "cpu", "not_contain") in query["filter"]
    assert c("additional_info", "cpu", "not") in query["filter"]


def test_dates_without_offset_are_in_the_time_zone() -> None:
    query = compile_kql(
        "created_at >= 2026-12-04T23:20 and created_at < 2026-12-04T23:30",
        time_zone="America/New_York",
        now=NOW,
    )
    assert query["filter"] == [
        c("created_at", "2026-12-05T04:20:00.000Z", "datetime_gte"),
        c("created_at", "2026-12-05T04:30:00.000Z", "datetime_lt"),
    ]
    day = compile_kql("created_at:2026-12-05", time_zone="Asia/Kolkata", now=NOW)
    assert [cond["v"] for cond in day["filter"]] == [
        "2026-12-04T18:30:00.000Z",
        "2026-12-05T18:30:00.000Z",
    ]


def test_pills_are_exact_and_anded() -> None:
    pills = [
        KqlFilter(field="title", value="Disk full"),
        KqlFilter(field="severity", value="INFO", negate=True),
        KqlFilter(field="provider", value="x", disabled=True),
        KqlFilter(field="occurred_at", value=None),
    ]
    query = compile_kql("provider:a or rule:b", filters=pills, now=NOW)
    assert query == q(
        c("title", "Disk full"), c("severity", "INFO", "not"), c("occurred_at", False, "exists"),
        any_of=(c("provider", "a"), c("rule", "b")),
    )  # fmt: skip


def test_alerts_use_the_same_grammar_over_their_fields() -> None:
    query = compile_kql(
        "state:triggered and urgency:(high or low) and event_count >= 3 and last_event_at > now-1h"
        " and event_key:*cpu*",
        target=ALERTS,
        now=NOW,
    )
    assert query == q(
        c("state", "TRIGGERED"), c("urgency", ["HIGH", "LOW"], "in"), c("event_count", 3, "gte"),
        c("last_event_at", "2026-12-05T11:00:00.000Z", "gt"), c("event_key", "cpu", "contain"),
    )  # fmt: skip


ERRORS: list[tuple[str, int | None, str | None, str]] = [
    ("nosuchfield:xyz", 1, "nosuchfield", "events have: event_id"),
    ('title:"unterminated', 7, None, "unterminated quoted phrase"),
    ("severity:", 10, "severity", "a value must follow ':'"),
    ("severity:critcal", 10, "severity", "not one of CRITICAL, ERROR"),
    ("severity:x*", 10, "severity", "no value matches"),
    ("resource:web", 1, "resource", "resource.name"),
    ("additional_info:x", 1, "additional_info", "additional_info.<key>"),
    ("created_at > yesterday", 14, "created_at", "is not a date"),
    ("created_at > now-1y", 14, "created_at", "now-15m"),
    ("created_at:now-1h", 12, "created_at", "use a range"),
    ("event_type > ALERT", 1, "event_type", "has no order"),
    ("severity > CRITICAL", 12, "severity", "no severity is above CRITICAL"),
    ("(provider:a", 12, None, "never closed"),
    ("provider:a)", 11, None, "without a matching '('"),
    ("provider:a or", 14, None, "the query ends"),
    ("and provider:a", 1, None, "expected a field"),
    ("()", 1, None, "empty parentheses"),
    ('"severity":x', 1, None, "without quotes"),
    ('a "b" > c', 3, None, "without quotes"),
    ("prov*:a", 1, "prov*", "cannot hold '*'"),
    ("provider:(a or rule:b)", 16, "provider", "not another field"),
    ("not resource.name:web-*", 5, "resource.name", "no negated regex"),
    ("(provider:a or rule:b) and (account:c or title:d)", 29, None, "ONE OR group"),
    ("host-21 and (provider:a or rule:b)", 14, None, "ONE OR group"),
    ("title:*", None, None, ""),  # not an error: exists
]


@pytest.mark.parametrize(("text", "position", "field", "says"), [e for e in ERRORS if e[3]])
def test_errors_name_the_position_or_the_field(
    text: str, position: int | None, field: str | None, says: str
) -> None:
    with pytest.raises(KqlError) as raised:
        compile_kql(text, now=NOW)
    assert says in raised.value.message
    assert raised.value.position == position
    assert raised.value.field == field
    if position is not None:
        assert raised.value.message.startswith(f"position {position}: ")


def test_alert_errors() -> None:
    with pytest.raises(KqlError, match=r"alerts have: .*alert_id"):
        compile_kql("provider_of_nothing:x", target=ALERTS)
    # Alerts take the whole language now (the events' translator): wildcards too.
    assert compile_kql("event_key:cpu* and title:x", target=ALERTS)
    with pytest.raises(KqlError, match="unknown time zone"):
        compile_kql("", time_zone="Mars/Olympus")


def test_unknown_field_lists_every_field() -> None:
    with pytest.raises(KqlError) as raised:
        compile_kql("nosuchfield:1")
    for name in field_names(EVENTS):
        assert name in raised.value.message


def test_tokens_keep_colons_of_times_and_escapes() -> None:
    kinds = [(t.kind, t.text) for t in tokenize('created_at >= 2026-12-05T10:00 a\\:b "x"')]
    assert kinds == [("WORD", "created_at"), ("CMP", ">="), ("WORD", "2026-12-05T10:00"),
                     ("WORD", "a:b"), ("QUOTED", "x"), ("END", "")]  # fmt: skip


@pytest.mark.parametrize("text", [text for text, _ in CASES])
def test_every_compiled_query_translates(text: str) -> None:
    """What the compiler makes, the list's translator takes (no API error at run time)."""
    query = Query.model_validate(compile_kql(text, now=NOW))
    build_filter(query.filter, query.filter_or, None, now=NOW)


WORDS = ["and ", "or ", "not ", "severity", "title", "created_at", "additional_info.x",
         "now-1h", "2026-12-05", "critical"]  # fmt: skip
ALPHABET = st.sampled_from([*'abcz019 :*()"\\<>=-.', *WORDS])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=14).map("".join))
def test_any_text_compiles_or_says_why(text: str) -> None:
    """Whatever is typed, the compiler answers a Query the translator takes, or a KqlError:
    never another exception (the route would answer 500)."""
    try:
        compiled = compile_kql(text, now=NOW, time_zone="America/New_York")
    except KqlError as error:
        assert error.message
        return
    query = Query.model_validate(compiled)
    build_filter(query.filter, query.filter_or, None, now=NOW)


def test_booleans_and_numbers_of_any_mapping() -> None:
    """Fields come from the mapping: booleans take true/false, numbers compare as numbers,
    and free text never tries them (Elasticsearch would refuse `flag: "x"`)."""
    mapping = {"properties": {"flag": {"type": "boolean"}, "ratio": {"type": "double"},
                              "name": {"type": "keyword"}}}  # fmt: skip
    target = dataclasses.replace(ALERTS, name="things", fields=FieldMap.of(mapping), enums={})
    assert compile_kql("flag:TRUE and ratio >= 1.5 and ratio:2", target=target) == q(
        c("flag", True), c("ratio", 1.5, "gte"), c("ratio", 2)
    )
    assert compile_kql("x", target=target) == q(c("name", "x"))
    for text, says in (("flag:yes", "not true or false"), ("ratio > lots", "not a number"),
                       ("flag > true", "no range")):  # fmt: skip
        with pytest.raises(KqlError, match=says):
            compile_kql(text, target=target)
