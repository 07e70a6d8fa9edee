"""Alert list and stat through the events' translator and stat planner (`ALERTS`): pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from query_api.query.stat import plan_stat
from query_api.query.translate import ALERT_MINIMAL_FIELDS, ALERTS, translate_list
from schemas.alert import AlertQuery
from schemas.query import Query, QueryError, StatisticsQuery

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def plan(body: dict) -> object:
    request = AlertQuery.model_validate(body)
    return translate_list(request.query, request.exact_filters(), now=NOW, searchable=ALERTS)


def test_alertquerys_own_filters_are_exact_terms_of_their_fields() -> None:
    got = plan({"alert_number": 7, "state": "ACKNOWLEDGED", "is_snoozed": "true",
                "resource_id": "i-1", "urgency": "HIGH"})  # fmt: skip
    assert got.filter.query == {"bool": {"filter": [
        {"term": {"alert_number": 7}}, {"term": {"state": "ACKNOWLEDGED"}},
        {"term": {"urgency": "HIGH"}}, {"term": {"is_snoozed": True}},
        {"term": {"resource.resource_id": "i-1"}},
    ]}}  # fmt: skip


def test_the_whole_query_language_over_alert_fields() -> None:
    got = plan({"query": {
        "filter": [{"k": "title", "v": "disk", "o": "contain"},
                   {"k": "responders.resource_id", "v": ["ann", "bob"], "o": "in"},
                   {"k": "created_at", "v": "now/d-7d", "o": "timediff_gte"},
                   {"k": "additional_info.env", "v": "prod", "o": "eq"}],
        "keyword": "web", "minimal": True, "page": {"start": 2, "limit": 10}}})  # fmt: skip
    clauses = got.filter.query["bool"]["filter"]
    assert clauses[0] == {"wildcard": {"title.keyword": {"value": "*disk*",
                                                         "case_insensitive": True}}}  # fmt: skip
    assert clauses[1] == {"terms": {"responders.resource_id": ["ann", "bob"]}}
    assert clauses[2] == {"range": {"created_at": {"gte": "2026-11-28T00:00:00.000Z"}}}
    assert clauses[3] == {"term": {"additional_info.env": "prod"}}
    keyword = str(clauses[4])
    assert all(field in keyword for field in ("alert_id", "title.keyword", "event_key"))
    assert got.sort == ({"created_at": {"order": "desc", "missing": "_last"}},
                        {"alert_id": {"order": "asc", "missing": "_last"}})  # fmt: skip
    assert (got.offset, got.limit, got.source_includes) == (1, 10, ALERT_MINIMAL_FIELDS)


def test_what_only_the_worker_reads_cannot_be_queried() -> None:
    with pytest.raises(QueryError):
        plan({"query": {"filter": [{"k": "correlation_key", "v": "x"}]}})
    unknown = plan({"query": {"filter": [{"k": "no_such_field", "v": "x"}]}})
    assert unknown.filter.query == {"match_none": {}}


def test_stat_over_alerts_groups_their_fields_ties_by_alert_id() -> None:
    fields = [{"operator": "last", "key": "title", "name": "latest"},
              {"operator": "max", "key": "alert_number", "name": "top"}]  # fmt: skip
    keys = [{"key": "state"}, {"key": "created_at", "date_format": "day"}]
    group = {"group": {"keys": keys, "fields": fields}}
    query = StatisticsQuery.model_validate({"aggregate": [group]})
    got = plan_stat(query, ALERTS)
    assert got.group is not None and got.group.id_field == "alert_id"
    assert [key.field for key in got.group.keys] == ["state", "created_at"]
    with pytest.raises(QueryError):
        plan_stat(StatisticsQuery.model_validate({"distinct": "resource"}), ALERTS)


def test_a_query_model_is_shared_with_events() -> None:
    assert AlertQuery.model_fields["query"].annotation is Query
