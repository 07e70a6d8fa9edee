"""Alert list queries -> the alerts index search (pure)."""

from __future__ import annotations

import pytest

from query_api.services.alerts import MAX_WINDOW, translate_alert_list
from schemas.query import Query, QueryError


def query(**fields: object) -> Query:
    return Query.model_validate(fields)


def test_no_filter_lists_newest_last_seen_first() -> None:
    search = translate_alert_list(query(), {})
    assert search.query == {"match_all": {}}
    assert search.sort == (
        {"last_event_at": {"order": "desc", "missing": "_last"}},
        {"alert_id": {"order": "asc"}},
    )
    assert (search.offset, search.size) == (0, MAX_WINDOW)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"k": "state", "v": "RESOLVED"}, {"term": {"state": "RESOLVED"}}),
        ({"k": "urgency", "v": "LOW", "o": "not"},
         {"bool": {"must_not": [{"term": {"urgency": "LOW"}}]}}),
        ({"k": "project_id", "v": ["a", "b"], "o": "in"}, {"terms": {"project_id": ["a", "b"]}}),
        ({"k": "event_count", "v": "5", "o": "gt"}, {"range": {"event_count": {"gt": 5}}}),
        ({"k": "first_event_at", "v": "2024-05-01T00:00:00+02:00", "o": "gte"},
         {"range": {"first_event_at": {"gte": "2024-04-30T22:00:00.000Z"}}}),
        ({"k": "event_key", "v": "Disk*", "o": "contain"},
         {"wildcard": {"event_key": {"value": "*Disk\\**", "case_insensitive": True}}}),
        ({"k": "resolved_at", "v": False, "o": "exists"},
         {"bool": {"must_not": [{"exists": {"field": "resolved_at"}}]}}),
    ],
)  # fmt: skip
def test_conditions(condition: dict, expected: dict) -> None:
    search = translate_alert_list(query(filter=[condition]), {})
    assert search.query == {"bool": {"filter": [expected]}}


def test_exact_filters_filter_or_and_keyword_are_anded() -> None:
    search = translate_alert_list(
        query(filter_or=[{"k": "state", "v": "ERROR"}, {"k": "state", "v": "TRIGGERED"}],
              keyword="db"),
        {"project_id": "p1", "alert_id": None},
    )  # fmt: skip
    clauses = search.query["bool"]["filter"]
    assert clauses[0] == {"term": {"project_id": "p1"}}
    assert clauses[1]["bool"]["minimum_should_match"] == 1
    assert len(clauses[1]["bool"]["should"]) == 2
    fields = {next(iter(c["wildcard"])) for c in clauses[2]["bool"]["should"]}
    assert fields == {"alert_id", "event_key"}


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"k": "severity", "v": "CRITICAL"}, "not an alert field"),
        ({"k": "state", "v": "x", "o": "regex"}, "alerts take the operators"),
        ({"k": "first_event_at", "v": "yesterday", "o": "gt"}, "not an ISO-8601 date"),
        ({"k": "event_count", "v": "many", "o": "gt"}, "not a whole number"),
        ({"k": "state", "v": "x", "o": "in"}, "needs a list"),
    ],
)
def test_refused_conditions_say_why(condition: dict, message: str) -> None:
    with pytest.raises(QueryError) as raised:
        translate_alert_list(query(filter=[condition]), {})
    assert raised.value.code == "ERROR_INVALID_ARGUMENT"
    assert message in raised.value.message


def test_paging_stays_within_the_window() -> None:
    search = translate_alert_list(query(page={"start": 51, "limit": 50}), {})
    assert (search.offset, search.size) == (50, 50)
    with pytest.raises(QueryError):
        translate_alert_list(query(page={"start": MAX_WINDOW, "limit": 50}), {})
