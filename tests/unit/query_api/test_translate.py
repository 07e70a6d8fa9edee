"""Query -> Elasticsearch DSL, compared as dicts (SPEC §5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from query_api.query.regex import fold_literal, lucene_regex
from query_api.query.translate import (
    MATCH_ALL,
    MATCH_NONE,
    MAX_EXPANSION_VALUES,
    Expansion,
    FilterPlan,
    apply_expansions,
    build_filter,
    parse_timediff,
    scoped,
    translate_list,
)
from schemas.query import Condition, Query, QueryError

# A Wednesday, with sub-millisecond precision on purpose.
NOW = datetime(2024, 5, 15, 13, 45, 30, 123456, tzinfo=UTC)


def ci(value: str) -> dict:
    return {"value": value, "case_insensitive": True}


def must_not(query: dict) -> dict:
    return {"bool": {"must_not": [query]}}


def should(*queries: dict) -> dict:
    return {"bool": {"should": list(queries), "minimum_should_match": 1}}


def one(key: str, operator: str, value: Any) -> dict:
    plan = build_filter([Condition(key=key, value=value, operator=operator)], [], None, now=NOW)
    assert plan.expansions == ()
    return plan.query


OPERATOR_CASES = [
    # eq / not: exact, case-sensitive, text fields through their keyword sub-field
    ("severity", "eq", "CRITICAL", {"term": {"severity": "CRITICAL"}}),
    ("title", "eq", "Disk Full", {"term": {"title.keyword": "Disk Full"}}),
    ("resource.name", "eq", "web-1", {"term": {"resource.name": "web-1"}}),
    ("additional_info.env", "eq", "prod", {"term": {"additional_info.env": "prod"}}),
    ("raw_data.labels.team", "eq", 5, {"term": {"raw_data.labels.team": "5"}}),
    ("raw_data.flag", "eq", True, {"term": {"raw_data.flag": "true"}}),
    ("raw_data.ratio", "eq", 1.5, {"term": {"raw_data.ratio": "1.5"}}),
    ("severity", "not", "INFO", must_not({"term": {"severity": "INFO"}})),
    (
        "created_at",
        "eq",
        "2024-05-01T10:00:00+02:00",
        {"term": {"created_at": "2024-05-01T08:00:00.000Z"}},
    ),
    ("created_at", "eq", "2024-05-01T00:00:00.0005Z", MATCH_NONE),
    # comparisons: strings by code point, dates by instant
    ("severity", "lt", "INFO", {"range": {"severity": {"lt": "INFO"}}}),
    ("additional_info.n", "gte", 10, {"range": {"additional_info.n": {"gte": "10"}}}),
    (
        "created_at",
        "gt",
        "2024-05-01",
        {"range": {"created_at": {"gt": "2024-05-01T00:00:00.000Z"}}},
    ),
    (
        "occurred_at",
        "lte",
        "2024-05-01T00:00:00Z",
        {"range": {"occurred_at": {"lte": "2024-05-01T00:00:00.000Z"}}},
    ),
    # in / not_in
    ("severity", "in", ["CRITICAL", "ERROR"], {"terms": {"severity": ["CRITICAL", "ERROR"]}}),
    ("severity", "in", ["CRITICAL"], {"term": {"severity": "CRITICAL"}}),
    ("provider", "not_in", ["aws", "gcp"], must_not({"terms": {"provider": ["aws", "gcp"]}})),
    ("raw_data.n", "in", [1, "a", False], {"terms": {"raw_data.n": ["1", "a", "false"]}}),
    # contain family: wildcard, case-insensitive, escaped
    ("title", "contain", "Disk*", {"wildcard": {"title.keyword": ci("*Disk\\**")}}),
    ("event_id", "contain", "a?b\\", {"wildcard": {"event_id": ci("*a\\?b\\\\*")}}),
    ("provider", "not_contain", "aw", must_not({"wildcard": {"provider": ci("*aw*")}})),
    # Elasticsearch folds ASCII only: other letters are folded in a regexp, specials escaped
    ("title", "contain", "Ünï-é*", {"regexp": {"title.keyword": ci(".*[Üü]n[Ïï]\\-[Éé]\\*.*")}}),
    ("title", "contain", "日本", {"wildcard": {"title.keyword": ci("*日本*")}}),
    (
        "title",
        "contain_in",
        ["cpu", "disk"],
        should(
            {"wildcard": {"title.keyword": ci("*cpu*")}},
            {"wildcard": {"title.keyword": ci("*disk*")}},
        ),
    ),
    (
        "title",
        "not_contain_in",
        ["cpu", "disk"],
        must_not(
            should(
                {"wildcard": {"title.keyword": ci("*cpu*")}},
                {"wildcard": {"title.keyword": ci("*disk*")}},
            )
        ),
    ),
    # exists
    ("occurred_at", "exists", True, {"exists": {"field": "occurred_at"}}),
    ("title", "exists", False, must_not({"exists": {"field": "title"}})),
    ("resource", "exists", True, {"exists": {"field": "resource"}}),
    ("additional_info.env", "exists", True, {"exists": {"field": "additional_info.env"}}),
    # match: eq on each sub-key, nested dicts recurse
    ("resource", "match", {"name": "web-1"}, {"term": {"resource.name": "web-1"}}),
    (
        "additional_info",
        "match",
        {"env": "prod", "labels": {"team": "db"}},
        {
            "bool": {
                "filter": [
                    {"term": {"additional_info.env": "prod"}},
                    {"term": {"additional_info.labels.team": "db"}},
                ]
            }
        },
    ),
    ("resource", "match", {"name": "x", "nope": "y"}, MATCH_NONE),
    # eq / in on a flattened root: any of its values (the console's free text)
    ("additional_info", "eq", "host-21", {"term": {"additional_info": "host-21"}}),
    ("additional_info", "in", ["a", "b"], {"terms": {"additional_info": ["a", "b"]}}),
    # regex: unanchored unless anchored, case-insensitive, classes folded by hand
    ("title", "regex", "disk", {"regexp": {"title.keyword": ci(".*disk.*")}}),
    ("title", "regex", "^disk", {"regexp": {"title.keyword": ci("disk.*")}}),
    ("title", "regex", "full$", {"regexp": {"title.keyword": ci(".*full")}}),
    ("title", "regex", "^a|b$", {"regexp": {"title.keyword": ci("(a.*|.*b)")}}),
    ("title", "regex", "^$", {"regexp": {"title.keyword": ci("()")}}),
    (
        "title",
        "regex",
        "[a-c]\\d{2,3}",
        {"regexp": {"title.keyword": ci(".*[A-Ca-c]([0-9]){2,3}.*")}},
    ),
    ("title", "regex", "[^x]+?", {"regexp": {"title.keyword": ci(".*([^Xx])+.*")}}),
    ("title", "regex", "a.b|c-d", {"regexp": {"title.keyword": ci("(.*a.b.*|.*c\\-d.*)")}}),
    ("title", "regex", "(x|)y", {"regexp": {"title.keyword": ci(".*((x|()))y.*")}}),
    ("title", "regex", "^ünï$", {"regexp": {"title.keyword": ci("[Üü]n[Ïï]")}}),
    ("title", "regex", "[à-â]", {"regexp": {"title.keyword": ci(".*[À-Âà-â].*")}}),
    ("title", "regex", "\\S", {"regexp": {"title.keyword": ci(".*[^\\\t-\\\r\\ ].*")}}),
    (
        "title",
        "regex_in",
        ["a", "b+"],
        should(
            {"regexp": {"title.keyword": ci(".*a.*")}},
            {"regexp": {"title.keyword": ci(".*(b)+.*")}},
        ),
    ),
    # datetime_* / timediff_*: instants computed here, in UTC, exact to the millisecond
    (
        "created_at",
        "datetime_gte",
        "2024-05-01T00:00:00Z",
        {"range": {"created_at": {"gte": "2024-05-01T00:00:00.000Z"}}},
    ),
    (
        "created_at",
        "datetime_lt",
        "2024-05-01 02:00:00+02:00",
        {"range": {"created_at": {"lt": "2024-05-01T00:00:00.000Z"}}},
    ),
    (
        "created_at",
        "timediff_gt",
        "now",
        {"range": {"created_at": {"gt": "2024-05-15T13:45:30.123Z"}}},
    ),
    # sub-millisecond `now`: >= 30.123456 is > 30.123; < 30.123456 is <= 30.123
    (
        "created_at",
        "timediff_gte",
        "now",
        {"range": {"created_at": {"gt": "2024-05-15T13:45:30.123Z"}}},
    ),
    (
        "created_at",
        "timediff_lt",
        "now",
        {"range": {"created_at": {"lte": "2024-05-15T13:45:30.123Z"}}},
    ),
    (
        "created_at",
        "timediff_gte",
        "now/d-7d",
        {"range": {"created_at": {"gte": "2024-05-08T00:00:00.000Z"}}},
    ),
    (
        "created_at",
        "timediff_gte",
        "now/w",
        {"range": {"created_at": {"gte": "2024-05-13T00:00:00.000Z"}}},
    ),
    (
        "created_at",
        "timediff_lte",
        "now/m + 2h",
        {"range": {"created_at": {"lte": "2024-05-01T02:00:00.000Z"}}},
    ),
    (
        "occurred_at",
        "timediff_lt",
        "now-90s",
        {"range": {"occurred_at": {"lte": "2024-05-15T13:44:00.123Z"}}},
    ),
    (
        "occurred_at",
        "timediff_lt",
        "now-1w",
        {"range": {"occurred_at": {"lte": "2024-05-08T13:45:30.123Z"}}},
    ),
]


@pytest.mark.parametrize(("key", "operator", "value", "expected"), OPERATOR_CASES)
def test_operator(key: str, operator: str, value: Any, expected: dict) -> None:
    assert one(key, operator, value) == expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        # An unmapped key is a field no event has: positive -> nothing, negative -> all.
        ("eq", "x", MATCH_NONE),
        ("in", ["x"], MATCH_NONE),
        ("contain", "x", MATCH_NONE),
        ("regex", "x", MATCH_NONE),
        ("gt", "x", MATCH_NONE),
        ("datetime_gt", "2024-01-01", MATCH_NONE),
        ("timediff_gt", "now", MATCH_NONE),
        ("match", {"a": 1}, MATCH_NONE),
        ("exists", True, MATCH_NONE),
        ("not", "x", MATCH_ALL),
        ("not_in", ["x"], MATCH_ALL),
        ("not_contain", "x", MATCH_ALL),
        ("not_contain_in", ["x"], MATCH_ALL),
        ("exists", False, MATCH_ALL),
    ],
)
def test_unmapped_key(operator: str, value: Any, expected: dict) -> None:
    assert one("resource.nope", operator, value) == expected
    assert one("nope", operator, value) == expected


FLATTENED_EXPANSIONS = [
    ("contain", "Pro", ".*([Pp][Rr][Oo]).*", False),
    ("not_contain", "a.b", ".*([Aa]\\.[Bb]).*", True),
    ("contain_in", ["x", "É1"], ".*([Xx]|[Éé]1).*", False),
    ("not_contain_in", ["x", ""], ".*([Xx]|()).*", True),
    ("regex", "^pr[a-b]d$", "([Pp][Rr][A-Ba-b][Dd])", False),
    ("regex_in", ["x", "y$"], "(.*[Xx].*|.*[Yy])", False),
]


@pytest.mark.parametrize(("operator", "value", "pattern", "negated"), FLATTENED_EXPANSIONS)
def test_flattened_substring_and_regex_become_expansions(
    operator: str, value: Any, pattern: str, negated: bool
) -> None:
    plan = build_filter(
        [Condition(key="additional_info.env", value=value, operator=operator)], [], None, now=NOW
    )
    placeholder = {"__expansion__": 0}
    assert plan.query == (must_not(placeholder) if negated else placeholder)
    assert plan.expansions == (Expansion("additional_info.env", pattern),)


def test_expansion_patterns_mean_what_they_say() -> None:
    """The folded Lucene pattern, read as a Python regex, accepts exactly the right values."""
    pattern = lucene_regex("^pr[a-b]d$", fold_ascii=True)
    for value, expected in [("PRaD", True), ("prbd", True), ("xprad", False), ("prcd", False)]:
        assert bool(re.fullmatch(pattern, value)) is expected
    assert re.fullmatch(fold_literal("Ünï"), "üNÏ")


def test_apply_expansions_substitutes_terms() -> None:
    plan = FilterPlan(
        {"bool": {"filter": [{"__expansion__": 0}, must_not({"__expansion__": 1})]}},
        (Expansion("raw_data.a", ".*x.*"), Expansion("additional_info.b", ".*y.*")),
    )
    assert apply_expansions(plan, [["x2", "x1", "x1"], []]) == {
        "bool": {
            "filter": [
                {"terms": {"raw_data.a": ["x1", "x2"]}},
                must_not({"terms": {"additional_info.b": []}}),
            ]
        }
    }


def test_apply_expansions_caps_values() -> None:
    plan = FilterPlan({"__expansion__": 0}, (Expansion("raw_data.a", ".*"),))
    too_many = [str(i) for i in range(MAX_EXPANSION_VALUES + 1)]
    with pytest.raises(QueryError) as raised:
        apply_expansions(plan, [too_many])
    assert raised.value.code == "ERROR_QUERY_TOO_BROAD"
    assert apply_expansions(plan, [too_many[:-1]])["terms"]["raw_data.a"][0] == "0"
    with pytest.raises(ValueError):
        apply_expansions(plan, [])


ERROR_CASES = [
    ("severity", "eq", ["a"], "ERROR_OPERATOR_VALUE_TYPE"),
    ("severity", "contain", ["a"], "ERROR_OPERATOR_VALUE_TYPE"),
    ("severity", "exists", [True], "ERROR_OPERATOR_VALUE_TYPE"),
    ("resource", "match", [{"a": 1}], "ERROR_OPERATOR_VALUE_TYPE"),
    ("created_at", "timediff_gt", ["now"], "ERROR_OPERATOR_VALUE_TYPE"),
    ("severity", "in", "a", "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ("severity", "not_in", None, "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ("severity", "contain_in", "a", "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ("severity", "not_contain_in", {"a": 1}, "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ("severity", "regex_in", "a", "ERROR_OPERATOR_LIST_VALUE_TYPE"),
    ("severity", "like", "a", "ERROR_DB_QUERY"),
    ("nope", "$where", "a", "ERROR_DB_QUERY"),
    ("severity", "in", [], "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex_in", [], "ERROR_INVALID_ARGUMENT"),
    ("severity", "exists", "yes", "ERROR_INVALID_ARGUMENT"),
    ("severity", "exists", None, "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "(", "ERROR_INVALID_ARGUMENT"),
    ("nope", "regex", "[z-a]", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "(a)\\1", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "a(?=b)", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "\\bword", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "(?m)^a", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "a++", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "a{2000}", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "[\\Da]", "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", 5, "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex", "a" * 999, "ERROR_INVALID_ARGUMENT"),
    ("created_at", "datetime_gt", "yesterday", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "datetime_gt", 5, "ERROR_INVALID_ARGUMENT"),
    ("created_at", "gt", "2024-13-01", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "eq", True, "ERROR_INVALID_ARGUMENT"),
    ("severity", "datetime_gt", "2024-01-01", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "timediff_gt", "now-1y", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "timediff_gt", "yesterday", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "timediff_gt", "now/h", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "timediff_gt", "now-99999999999d", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "contain", "2024", "ERROR_INVALID_ARGUMENT"),
    ("created_at", "regex", "2024", "ERROR_INVALID_ARGUMENT"),
    ("severity", "contain", None, "ERROR_INVALID_ARGUMENT"),
    ("severity", "gt", None, "ERROR_INVALID_ARGUMENT"),
    ("severity", "regex_in", ["a", None], "ERROR_INVALID_ARGUMENT"),
    ("created_at", "datetime_gt", None, "ERROR_INVALID_ARGUMENT"),
    ("severity", "eq", {"a": 1}, "ERROR_INVALID_ARGUMENT"),
    ("severity", "in", ["a", {"b": 1}], "ERROR_INVALID_ARGUMENT"),
    ("severity", "eq", float("nan"), "ERROR_INVALID_ARGUMENT"),
    ("severity", "gt", True, "ERROR_INVALID_ARGUMENT"),
    ("severity", "contain", True, "ERROR_INVALID_ARGUMENT"),
    ("severity", "match", {"a": 1}, "ERROR_INVALID_ARGUMENT"),
    ("resource", "match", {}, "ERROR_INVALID_ARGUMENT"),
    ("resource", "match", "web-1", "ERROR_INVALID_ARGUMENT"),
    ("resource", "eq", "web-1", "ERROR_INVALID_ARGUMENT"),
    ("additional_info", "contain", "x", "ERROR_INVALID_ARGUMENT"),
    ("additional_info.", "eq", "x", "ERROR_INVALID_ARGUMENT"),
    ("resource..name", "eq", "x", "ERROR_INVALID_ARGUMENT"),
]


MISSING_SEVERITY = {"bool": {"must_not": [{"exists": {"field": "severity"}}]}}


@pytest.mark.parametrize(
    ("key", "operator", "value", "expected"),
    [
        ("severity", "eq", None, MISSING_SEVERITY),
        ("severity", "not", None, {"exists": {"field": "severity"}}),
        ("severity", "in", [None], MISSING_SEVERITY),
        ("severity", "in", ["INFO", None], {"bool": {"should": [
            MISSING_SEVERITY, {"term": {"severity": "INFO"}}], "minimum_should_match": 1}}),
        ("severity", "not_in", ["INFO", None], {"bool": {"must_not": [{"bool": {"should": [
            MISSING_SEVERITY, {"term": {"severity": "INFO"}}], "minimum_should_match": 1}}]}}),
        ("resource", "eq", None, {"bool": {"must_not": [{"exists": {"field": "resource"}}]}}),
        ("resource", "match", {"name": None}, {"bool": {"must_not": [
            {"exists": {"field": "resource.name"}}]}}),
        ("nope", "eq", None, MATCH_ALL),
        ("nope", "not", None, MATCH_NONE),
    ],
)  # fmt: skip
def test_null_values_mean_what_mongodb_means(
    key: str, operator: str, value: Any, expected: dict
) -> None:
    assert one(key, operator, value) == expected


@pytest.mark.parametrize(("key", "operator", "value", "code"), ERROR_CASES)
def test_errors(key: str, operator: str, value: Any, code: str) -> None:
    with pytest.raises(QueryError) as raised:
        one(key, operator, value)
    assert raised.value.code == code
    assert key in raised.value.message and operator in raised.value.message


def test_aliases_and_groups() -> None:
    """filter is AND, filter_or is OR, the groups and the keyword are ANDed."""
    plan = build_filter(
        [Condition.model_validate({"k": "severity", "v": "CRITICAL", "o": "eq"})],
        [
            Condition.model_validate({"key": "provider", "value": "aws"}),
            Condition.model_validate({"key": "provider", "value": "gcp"}),
        ],
        None,
        now=NOW,
    )
    assert plan.query == {
        "bool": {
            "filter": [
                {"term": {"severity": "CRITICAL"}},
                should({"term": {"provider": "aws"}}, {"term": {"provider": "gcp"}}),
            ]
        }
    }
    assert build_filter([], [], None, now=NOW).query == MATCH_ALL
    assert build_filter([], [], "  \t", now=NOW).query == MATCH_ALL


def test_keyword_any_word_substring_or_full_text() -> None:
    def word(w: str, pattern: str) -> list[dict]:
        return [
            {"wildcard": {"event_id": ci(pattern)}},
            {"wildcard": {"title.keyword": ci(pattern)}},
            {"multi_match": {"query": w, "fields": ["title", "description"], "operator": "and"}},
        ]

    plan = build_filter([], [], " cpu  disk*full ", now=NOW)
    assert plan.query == should(*word("cpu", "*cpu*"), *word("disk*full", "*disk\\*full*"))
    unicode = build_filter([], [], "café", now=NOW).query["bool"]["should"]
    assert unicode[0] == {"regexp": {"event_id": ci(".*caf[Éé].*")}}


def test_timediff_rounding() -> None:
    sunday = datetime(2024, 5, 19, 23, 0, tzinfo=UTC)
    assert parse_timediff("now/w", sunday) == datetime(2024, 5, 13, tzinfo=UTC)
    assert parse_timediff(" now/d +1d ", sunday) == datetime(2024, 5, 20, tzinfo=UTC)
    assert parse_timediff("now/m-1d", sunday) == datetime(2024, 4, 30, tzinfo=UTC)
    assert parse_timediff("now-5m", datetime(2024, 5, 19, 0, 0)) == datetime(
        2024, 5, 18, 23, 55, tzinfo=UTC
    )


# ---- list: sort, paging, fields --------------------------------------------------------

TIEBREAK = {"event_id": {"order": "asc", "missing": "_last"}}


def plan_of(query: dict, **exact: str):
    return translate_list(Query.model_validate(query), exact, now=NOW)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [{"created_at": {"order": "desc", "missing": "_last"}}, TIEBREAK]),
        ({"key": "severity"}, [{"severity": {"order": "asc", "missing": "_last"}}, TIEBREAK]),
        (
            {"keys": [{"key": "title", "desc": True}, {"key": "additional_info.env"}]},
            [
                {"title.keyword": {"order": "desc", "missing": "_last"}},
                {"additional_info.env": {"order": "asc", "missing": "_last"}},
                TIEBREAK,
            ],
        ),
        (
            [{"key": "nope"}, {"key": "occurred_at", "desc": True}],
            [{"occurred_at": {"order": "desc", "missing": "_last"}}, TIEBREAK],
        ),
        (
            [{"key": "event_id", "desc": True}],
            [{"event_id": {"order": "desc", "missing": "_last"}}],
        ),
    ],
)
def test_sort(sort: Any, expected: list[dict]) -> None:
    assert list(plan_of({"sort": sort}).sort) == expected


def test_sort_on_object_is_refused() -> None:
    with pytest.raises(QueryError) as raised:
        plan_of({"sort": {"key": "resource"}})
    assert raised.value.code == "ERROR_INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("page", "offset", "limit"),
    [(None, 0, 0), ({"start": 1, "limit": 15}, 0, 15), ({"start": 31, "limit": 15}, 30, 15),
     ({"start": 10001, "limit": 5}, 10000, 5), ({"start": 7, "limit": 0}, 0, 0)],
)  # fmt: skip
def test_paging(page: Any, offset: int, limit: int) -> None:
    plan = plan_of({"page": page})
    assert (plan.offset, plan.limit) == (offset, limit)


def test_page_limit_is_capped() -> None:
    assert plan_of({"page": {"limit": 10_000}}).limit == 10_000
    with pytest.raises(QueryError) as raised:
        plan_of({"page": {"limit": 10_001}})
    assert raised.value.code == "ERROR_INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("query", "includes", "count_only"),
    [
        ({}, None, False),
        ({"only": ["event_id", "resource.name", "event_id"]}, ("event_id", "resource.name"), False),
        ({"only": []}, None, False),
        (
            {"minimal": True},
            ("event_id", "event_key", "event_type", "title", "severity", "alert_id"),
            False,
        ),
        ({"minimal": True, "only": ["title"]}, ("title",), False),
        ({"count_only": True}, None, True),
    ],
)
def test_fields(query: dict, includes: tuple | None, count_only: bool) -> None:
    plan = plan_of(query)
    assert (plan.source_includes, plan.count_only) == (includes, count_only)


@pytest.mark.parametrize("only", [["*"], ["resource.*"], [""], ["a..b"]])
def test_only_refuses_wildcards(only: list[str]) -> None:
    with pytest.raises(QueryError):
        plan_of({"only": only})


def test_long_folded_patterns_are_refused_before_elasticsearch_does() -> None:
    assert one("title", "contain", "a" * 5000)["wildcard"]  # no regexp length limit
    with pytest.raises(QueryError) as raised:
        one("title", "contain", "é" * 300)
    assert raised.value.code == "ERROR_INVALID_ARGUMENT"


def test_exact_filters_are_anded() -> None:
    plan = plan_of(
        {"filter": [{"k": "severity", "v": "INFO"}]}, resource_id="r-1", domain_id="domain-1"
    )
    assert plan.filter.query == {
        "bool": {
            "filter": [
                {"term": {"resource.resource_id": "r-1"}},
                {"term": {"domain_id": "domain-1"}},
                {"term": {"severity": "INFO"}},
            ]
        }
    }
    assert plan_of({}, severity=None).filter.query == MATCH_ALL  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        plan_of({}, title="x")


def test_scoped_cannot_be_widened() -> None:
    inner = {"bool": {"should": [{"term": {"domain_id": "other"}}, MATCH_ALL]}}
    assert scoped(inner, "domain-1") == {
        "bool": {"filter": [{"term": {"domain_id": "domain-1"}}, inner]}
    }
    assert scoped(inner, None) is inner
    assert scoped(MATCH_ALL, "")["bool"]["filter"][0] == {"term": {"domain_id": ""}}
    with pytest.raises(TypeError):
        scoped(MATCH_ALL, 5)  # type: ignore[arg-type]
