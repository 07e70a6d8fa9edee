"""Webhook list queries -> Elasticsearch bodies, compared as dicts (SPEC §5 meanings, codes).

The webhook list translates with the events' translator and the webhooks' field map, so
these cases are the webhook-shaped ones; the operators themselves are tested in
test_translate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from query_api.query.translate import WEBHOOKS, build_filter, translate_sort
from query_api.services.webhooks import select_fields, translate_list
from schemas.query import Condition, Query, QueryError

NOW = datetime(2024, 5, 3, 12, tzinfo=UTC)


def translate_condition(condition: Condition) -> dict[str, Any]:
    return build_filter([condition], [], None, now=NOW, searchable=WEBHOOKS).query


def ci_wildcard(field: str, value: str) -> dict[str, Any]:
    return {"wildcard": {field: {"value": value, "case_insensitive": True}}}


def not_(clause: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"must_not": [clause]}}


def any_(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"should": list(clauses), "minimum_should_match": 1}}


CASES = [
    ({"k": "name", "v": "prod", "o": "eq"}, {"term": {"name": "prod"}}),
    ({"k": "state", "v": "DISABLED"}, {"term": {"state": "DISABLED"}}),
    ({"k": "project_id", "v": "p1", "o": "not"}, not_({"term": {"project_id": "p1"}})),
    (
        {"k": "plugin_info.plugin_id", "v": ["grafana", "prometheus"], "o": "in"},
        {"terms": {"plugin_info.plugin_id": ["grafana", "prometheus"]}},
    ),
    ({"k": "project_id", "v": ["a"], "o": "not_in"}, not_({"term": {"project_id": "a"}})),
    ({"k": "name", "v": "Pro", "o": "contain"}, ci_wildcard("name", "*Pro*")),
    ({"k": "name", "v": "a*b?c\\", "o": "contain"}, ci_wildcard("name", "*a\\*b\\?c\\\\*")),
    ({"k": "name", "v": "x", "o": "not_contain"}, not_(ci_wildcard("name", "*x*"))),
    (
        {"k": "name", "v": ["a", "b"], "o": "contain_in"},
        any_(ci_wildcard("name", "*a*"), ci_wildcard("name", "*b*")),
    ),
    (
        {"k": "name", "v": ["a"], "o": "not_contain_in"},
        not_(ci_wildcard("name", "*a*")),
    ),
    ({"k": "tags.env", "v": "prod"}, {"term": {"tags.env": "prod"}}),
    ({"k": "tags.on", "v": True}, {"term": {"tags.on": "true"}}),
    ({"k": "tags.n", "v": 3}, {"term": {"tags.n": "3"}}),
    ({"k": "tags.env", "v": "PR", "o": "contain"}, ci_wildcard("tags.env", "*PR*")),
    ({"k": "tags.env", "v": True, "o": "exists"}, {"exists": {"field": "tags.env"}}),
    ({"k": "tags.env", "v": False, "o": "exists"}, not_({"exists": {"field": "tags.env"}})),
    (
        {"k": "created_at", "v": "2024-05-01T00:00:00Z", "o": "gte"},
        {"range": {"created_at": {"gte": "2024-05-01T00:00:00.000Z"}}},
    ),
    (
        {"k": "updated_at", "v": "2024-05-01", "o": "datetime_lt"},
        {"range": {"updated_at": {"lt": "2024-05-01T00:00:00.000Z"}}},
    ),
    # One translator: what event list does, webhook list does too.
    ({"k": "nope", "v": "a", "o": "eq"}, {"match_none": {}}),
    ({"k": "nope", "v": "a", "o": "not"}, {"match_all": {}}),
    ({"k": "name", "v": None, "o": "eq"}, not_({"exists": {"field": "name"}})),
    ({"k": "name", "v": None, "o": "not"}, {"exists": {"field": "name"}}),
    (
        {"k": "name", "v": ["a", None], "o": "in"},
        any_(not_({"exists": {"field": "name"}}), {"term": {"name": "a"}}),
    ),
    (
        {"k": "name", "v": "^Pr", "o": "regex"},
        {"regexp": {"name": {"value": "Pr.*", "case_insensitive": True}}},
    ),
    (
        {"k": "name", "v": "é", "o": "contain"},
        {"regexp": {"name": {"value": ".*[Éé].*", "case_insensitive": True}}},
    ),
    (
        {"k": "created_at", "v": "now/d-1d", "o": "timediff_gte"},
        {"range": {"created_at": {"gte": "2024-05-02T00:00:00.000Z"}}},
    ),
]


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_condition(condition: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate_condition(Condition.model_validate(condition)) == expected


ERRORS = [
    ({"k": "name", "v": ["a"], "o": "eq"}, "ERROR_OPERATOR_VALUE_TYPE"),
    ({"k": "name", "v": ["a"], "o": "contain"}, "ERROR_OPERATOR_VALUE_TYPE"),
    ({"k": "name", "v": "a", "o": "in"}, "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ({"k": "name", "v": [], "o": "in"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "name", "v": "a", "o": "bogus"}, "ERROR_DB_QUERY"),
    ({"k": "name", "v": "(?<=a)b", "o": "regex"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "name", "v": "yes", "o": "exists"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "name", "v": None, "o": "contain"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "name", "v": {"a": 1}, "o": "eq"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "created_at", "v": "yesterday", "o": "gt"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "created_at", "v": "2024", "o": "contain"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "access_key_sha256", "v": "ab", "o": "eq"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "plugin_info.options", "v": "a", "o": "eq"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "plugin_info.options.x", "v": "a", "o": "eq"}, "ERROR_INVALID_ARGUMENT"),
    ({"k": "tags", "v": "a", "o": "eq"}, "ERROR_INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(("condition", "code"), ERRORS)
def test_condition_errors(condition: dict[str, Any], code: str) -> None:
    with pytest.raises(QueryError) as raised:
        translate_condition(Condition.model_validate(condition))
    assert raised.value.code == code


def test_list_ands_exact_filters_groups_and_keyword() -> None:
    query = Query.model_validate(
        {
            "filter": [{"k": "state", "v": "ENABLED"}],
            "filter_or": [{"k": "tags.env", "v": "prod"}, {"k": "tags.env", "v": "dev"}],
            "keyword": " alpha  web ",
            "page": {"start": 3, "limit": 2},
        }
    )
    plan, body = translate_list(query, {"project_id": "p1"}, now=NOW)
    assert plan.query == {
        "bool": {
            "filter": [
                {"term": {"project_id": "p1"}},
                {
                    "bool": {
                        "filter": [
                            {"term": {"state": "ENABLED"}},
                            any_({"term": {"tags.env": "prod"}}, {"term": {"tags.env": "dev"}}),
                            any_(
                                ci_wildcard("webhook_id", "*alpha*"),
                                ci_wildcard("name", "*alpha*"),
                                ci_wildcard("webhook_id", "*web*"),
                                ci_wildcard("name", "*web*"),
                            ),
                        ]
                    }
                },
            ]
        }
    }
    assert (body["from_"], body["size"], body["track_total_hits"]) == (2, 2, True)
    assert body["source_excludes"] == ["access_key_sha256"]


def test_pages_fall_back_and_stop_at_the_window() -> None:
    plan, body = translate_list(Query(), {}, now=NOW)
    assert plan.query == {"match_all": {}}
    assert (body["from_"], body["size"]) == (0, 10_000)
    _, count = translate_list(Query(count_only=True, page={"start": 5, "limit": 5}), {}, now=NOW)
    assert (count["from_"], count["size"]) == (0, 0)
    with pytest.raises(QueryError) as raised:
        translate_list(Query(page={"start": 9_999, "limit": 10}), {}, now=NOW)
    assert raised.value.code == "ERROR_INVALID_ARGUMENT"


def test_sort_default_newest_first_ties_by_id() -> None:
    assert translate_sort([], WEBHOOKS) == (
        {"created_at": {"order": "desc", "missing": "_last"}},
        {"webhook_id": {"order": "asc", "missing": "_last"}},
    )
    query = Query.model_validate(
        {"sort": [{"key": "tags.team"}, {"key": "nope"}, {"key": "webhook_id", "desc": True}]}
    )
    assert translate_sort(query.sort, WEBHOOKS) == (
        {"tags.team": {"order": "asc", "missing": "_last", "unmapped_type": "keyword"}},
        {"webhook_id": {"order": "desc", "missing": "_last"}},
    )
    for hidden in ("access_key_sha256", "plugin_info.options"):
        with pytest.raises(QueryError):
            translate_sort(Query.model_validate({"sort": {"key": hidden}}).sort, WEBHOOKS)


def test_select_fields_only_and_minimal() -> None:
    document = {
        "webhook_id": "webhook-1",
        "name": "n",
        "state": "ENABLED",
        "plugin_info": {"plugin_id": "grafana", "options": {}},
        "tags": {"env": "prod"},
    }
    only = Query(only=["name", "plugin_info.plugin_id", "tags.missing"])
    assert select_fields(document, only) == {"name": "n", "plugin_info": {"plugin_id": "grafana"}}
    assert select_fields(document, Query(minimal=True)) == {
        "webhook_id": "webhook-1",
        "name": "n",
        "state": "ENABLED",
    }
    assert select_fields(document, Query()) is document
