"""Stat planning and post-processing (query_api.query.stat): dicts in, dicts out, no servers."""

from __future__ import annotations

from typing import Any

import pytest

from query_api.query.stat import (
    MAX_SET_VALUES,
    GroupTable,
    Rows,
    StatPlan,
    Window,
    composite_aggregations,
    distinct_aggregations,
    distinct_from_aggregations,
    fetch_request,
    groups_from_aggregations,
    groups_from_hits,
    page_result,
    pattern_granularity,
    plan_group,
    plan_stat,
    read_number,
    run_stages,
    sort_hits,
)
from query_api.query.stat.rows import NUMBER_REGEX
from schemas.query import Group, Page, QueryError, SortKey, Stage, StatisticsQuery

MAY_1 = 1714521600000  # 2024-05-01T00:00:00Z in epoch millis
HOUR = 3_600_000


def group(keys: list[dict[str, Any]], fields: list[dict[str, Any]]) -> Group:
    return Group.model_validate({"keys": keys, "fields": fields})


def stages(*raw: dict[str, Any]) -> list[Stage]:
    return [Stage.model_validate(stage) for stage in raw]


# ---- planning ------------------------------------------------------------------------------


def test_spec_example_plans_one_composite() -> None:
    plan = plan_group(
        group(
            [{"key": "severity"}, {"key": "created_at", "name": "day", "date_format": "day"}],
            [{"operator": "count", "name": "total"},
             {"operator": "add_to_set", "key": "provider", "name": "providers"}],
        )
    )  # fmt: skip
    assert not plan.scan
    assert composite_aggregations(plan, after={"k0": "INFO", "k1": "2024-05-01"}, size=7) == {
        "groups": {
            "composite": {
                "size": 7,
                "sources": [
                    {"k0": {"terms": {"field": "severity", "missing_bucket": True}}},
                    {"k1": {"date_histogram": {
                        "field": "created_at", "missing_bucket": True, "calendar_interval": "day",
                        "time_zone": "UTC", "format": "yyyy-MM-dd"}}},
                ],
                "after": {"k0": "INFO", "k1": "2024-05-01"},
            },
            "aggs": {"f1": {"terms": {"field": "provider", "size": MAX_SET_VALUES,
                                      "order": {"_key": "asc"}}}},
        }
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "source"),
    [
        ({"key": "title"}, {"terms": {"field": "title.keyword", "missing_bucket": True}}),
        ({"key": "additional_info.env"},
         {"terms": {"field": "additional_info.env", "missing_bucket": True}}),
        ({"key": "created_at"}, {"terms": {"field": "created_at", "missing_bucket": True}}),
        ({"key": "created_at", "date_format": "year"},
         {"date_histogram": {"field": "created_at", "missing_bucket": True,
                             "calendar_interval": "year", "time_zone": "UTC", "format": "yyyy"}}),
        ({"key": "occurred_at", "date_format": "month"},
         {"date_histogram": {"field": "occurred_at", "missing_bucket": True,
                             "calendar_interval": "month", "time_zone": "UTC",
                             "format": "yyyy-MM"}}),
        ({"key": "created_at", "date_format": "%H:%M"},
         {"date_histogram": {"field": "created_at", "missing_bucket": True,
                             "calendar_interval": "minute", "time_zone": "UTC"}}),
        ({"key": "created_at", "date_format": "%f"},
         {"terms": {"field": "created_at", "missing_bucket": True}}),
    ],
)  # fmt: skip
def test_key_sources(key: dict[str, Any], source: dict[str, Any]) -> None:
    plan = plan_group(group([key], []))
    assert composite_aggregations(plan)["groups"]["composite"]["sources"] == [{"k0": source}]


@pytest.mark.parametrize(
    ("pattern", "granularity"),
    [
        ("%Y", "year"), ("%y/%C", "year"), ("%Y-%m", "month"), ("%B %Y", "month"),
        ("%Y-%m-%d", "day"), ("%a", "day"), ("%j", "day"), ("%G-W%V", "day"), ("%x", "day"),
        ("%H", "hour"), ("%I %p", "hour"), ("%H:%M", "minute"), ("%R", "minute"),
        ("%S", "second"), ("%c", "second"), ("%-d.%-m %X", "second"),
        ("%f", "instant"), ("week", "year"), ("%Z %% %z", "year"),
    ],
)  # fmt: skip
def test_pattern_granularity(pattern: str, granularity: str) -> None:
    assert pattern_granularity(pattern) == granularity


@pytest.mark.parametrize(
    ("field", "agg"),
    [
        ({"operator": "count", "name": "x"}, None),
        ({"operator": "sum", "key": "additional_info.n", "name": "x"},
         {"terms": {"field": "additional_info.n", "size": MAX_SET_VALUES,
                    "order": {"_key": "asc"}}}),
        ({"operator": "average", "key": "created_at", "name": "x"}, None),
        ({"operator": "max", "key": "created_at", "name": "x"},
         {"max": {"field": "created_at"}}),
        ({"operator": "min", "key": "title", "name": "x"},
         {"terms": {"field": "title.keyword", "size": 1, "order": {"_key": "asc"},
                    "exclude": NUMBER_REGEX}}),
        ({"operator": "max", "key": "provider", "name": "x"},
         {"terms": {"field": "provider", "size": 1, "order": {"_key": "desc"},
                    "exclude": NUMBER_REGEX}}),
        ({"operator": "first", "key": "resource", "name": "x"},
         {"top_hits": {"size": 1, "_source": {"includes": ["resource"]},
                       "sort": [{"created_at": "asc"}, {"event_id": "asc"}]}}),
        ({"operator": "last", "key": "additional_info.env", "name": "x"},
         {"top_hits": {"size": 1, "_source": {"includes": ["additional_info.env"]},
                       "sort": [{"created_at": "desc"}, {"event_id": "desc"}]}}),
    ],
)  # fmt: skip
def test_field_aggregations(field: dict[str, Any], agg: dict[str, Any] | None) -> None:
    plan = plan_group(group([{"key": "severity"}], [field]))
    assert not plan.scan
    assert composite_aggregations(plan)["groups"].get("aggs", {}).get("f0") == agg


def test_no_keys_is_one_bucket_of_everything() -> None:
    plan = plan_group(group([], [{"operator": "count", "name": "n"}]))
    assert composite_aggregations(plan) == {
        "groups": {"filters": {"filters": {"all": {"match_all": {}}}}}
    }
    empty = {"groups": {"buckets": {"all": {"doc_count": 0}}}}
    assert groups_from_aggregations(plan, empty) == ([], None)
    full = {"groups": {"buckets": {"all": {"doc_count": 4}}}}
    assert groups_from_aggregations(plan, full) == ([((), [4])], None)


@pytest.mark.parametrize("operator", ["push", "merge_objects"])
def test_push_and_merge_objects_scan(operator: str) -> None:
    plan = plan_group(
        group(
            [{"key": "severity"}, {"key": "created_at", "date_format": "day"}],
            [{"operator": operator, "key": "additional_info", "name": "a"},
             {"operator": "max", "key": "occurred_at", "name": "b"},
             {"operator": "first", "key": "title", "name": "c"}],
        )
    )  # fmt: skip
    assert plan.scan
    stat = StatPlan(mode="group", group=plan)
    assert stat.fetches_events
    assert fetch_request(stat) == {
        "_source": {"includes": ["additional_info", "title"]},
        "docvalue_fields": [
            {"field": "created_at", "format": "epoch_millis"},
            {"field": "occurred_at", "format": "epoch_millis"},
            {"field": "severity"},
        ],
    }


def test_plan_modes() -> None:
    count = plan_stat(StatisticsQuery.model_validate(
        {"aggregate": [{"count": {"name": "n"}}, {"project": {"fields": ["n"]}}]}))  # fmt: skip
    assert count.mode == "count" and count.count_name == "n" and len(count.stages) == 1
    distinct = plan_stat(StatisticsQuery.model_validate({"distinct": "title"}))
    assert distinct.mode == "distinct" and distinct.distinct is not None
    assert distinct_aggregations(distinct.distinct) == {
        "values": {"composite": {"size": 1000, "sources": [
            {"v": {"terms": {"field": "title.keyword"}}}]}}
    }  # fmt: skip


def test_distinct_dates_read_as_timestamps() -> None:
    plan = plan_stat(StatisticsQuery.model_validate({"distinct": "created_at"}))
    assert plan.distinct is not None
    response = {"values": {"after_key": {"v": MAY_1}, "buckets": [{"key": {"v": MAY_1}}]}}
    assert distinct_from_aggregations(plan.distinct, response) == (
        ["2024-05-01T00:00:00.000Z"],
        {"v": MAY_1},
    )
    assert distinct_from_aggregations(plan.distinct, {"values": {"buckets": []}}) == ([], None)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"aggregate": [{"group": {"keys": [{"key": "nope"}]}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "resource"}]}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "additional_info"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "severity", "date_format": "day"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "created_at", "date_format": "%Q"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "created_at", "date_format": "%s"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "severity", "name": "x"}],
                                   "fields": [{"operator": "count", "name": "x"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"fields": [{"operator": "max", "key": "resource",
                                               "name": "x"}]}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"fields": [{"operator": "push", "key": "nope",
                                               "name": "x"}]}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"sort": {"key": "resource"}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"limit": 3}, {"sort": {"key": "additional_info"}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"group": {"keys": [{"key": "severity"}]}},
                        {"group": {"keys": [{"key": "severity", "name": "n"}],
                                   "fields": [{"operator": "count", "name": "n"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"count": {"name": "n"}},
                        {"group": {"keys": [{"key": "n", "date_format": "%Q"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"project": {"exclude_keys": ["severity"]}}]}, "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"project": {"fields": [{"key": "a", "operator": "nope"}]}}]},
         "ERROR_INVALID_ARGUMENT"),
        ({"aggregate": [{"count": {"name": "n"}}], "distinct": "severity"},
         "ERROR_INVALID_ARGUMENT"),
        ({"distinct": "resource"}, "ERROR_INVALID_ARGUMENT"),
        ({"distinct": "nope"}, "ERROR_INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_refused(query: dict[str, Any], code: str) -> None:
    with pytest.raises((QueryError, ValueError)) as error:
        plan_stat(StatisticsQuery.model_validate(query))
    if isinstance(error.value, QueryError):
        assert error.value.code == code and error.value.message


# ---- reading buckets and hits --------------------------------------------------------------


def test_strftime_buckets_merge_exactly() -> None:
    """Hour buckets of two days format alike under %H and merge, every operator exact."""
    plan = plan_group(
        group(
            [{"key": "created_at", "name": "hour", "date_format": "%H"}],
            [{"operator": "count", "name": "n"},
             {"operator": "sum", "key": "additional_info.n", "name": "sum"},
             {"operator": "average", "key": "additional_info.n", "name": "avg"},
             {"operator": "max", "key": "provider", "name": "max"},
             {"operator": "min", "key": "occurred_at", "name": "min"},
             {"operator": "first", "key": "title", "name": "first"},
             {"operator": "last", "key": "title", "name": "last"},
             {"operator": "add_to_set", "key": "provider", "name": "set"}],
        )
    )  # fmt: skip

    def bucket(
        start: int,
        n: int,
        values: dict[str, int],
        provider: str,
        occurred: float | None,
        first: tuple[int, str, str],
        last: tuple[int, str, str],
    ) -> dict[str, Any]:
        def hit(sort: tuple[int, str, str]) -> dict[str, Any]:
            return {"hits": {"hits": [{"sort": [sort[0], sort[1]], "_source": {"title": sort[2]}}]}}

        terms = {
            "sum_other_doc_count": 0,
            "doc_count_error_upper_bound": 0,
            "buckets": [{"key": k, "doc_count": c} for k, c in values.items()],
        }
        return {
            "key": {"k0": start},
            "doc_count": n,
            "f1": terms,
            "f2": terms,
            "f3": {"sum_other_doc_count": 3, "buckets": [{"key": provider, "doc_count": 1}]},
            "f4": {"value": occurred},
            "f5": hit(first),
            "f6": hit(last),
            "f7": {"sum_other_doc_count": 0, "buckets": [{"key": provider, "doc_count": n}]},
        }

    day = 24 * HOUR
    page = {"groups": {"after_key": {"k0": MAY_1 + day + 3 * HOUR}, "buckets": [
        bucket(MAY_1 + 3 * HOUR, 2, {"5": 1, "x": 1}, "aws", None,
               (MAY_1 + 3 * HOUR, "e1", "a"), (MAY_1 + 3 * HOUR + 5, "e2", "b")),
        bucket(MAY_1 + 4 * HOUR, 1, {}, "gcp", MAY_1, (MAY_1 + 4 * HOUR, "e3", "c"),
               (MAY_1 + 4 * HOUR, "e3", "c")),
        bucket(MAY_1 + day + 3 * HOUR, 3, {"1.5": 2, "2": 1}, "azure", MAY_1 + HOUR,
               (MAY_1 + day + 3 * HOUR, "e0", "d"), (MAY_1 + day + 3 * HOUR, "e9", "e")),
    ]}}  # fmt: skip
    groups, after = groups_from_aggregations(plan, page)
    assert after == {"k0": MAY_1 + day + 3 * HOUR}
    table = GroupTable(plan)
    for key, states in groups:
        table.add(key, states)
    assert table.rows() == [
        {"hour": "03", "n": 5, "sum": 10.0, "avg": 2.5, "max": "azure",
         "min": "2024-05-01T01:00:00.000Z", "first": "a", "last": "e",
         "set": ["aws", "azure"]},
        {"hour": "04", "n": 1, "sum": 0, "avg": None, "max": "gcp",
         "min": "2024-05-01T00:00:00.000Z", "first": "c", "last": "c", "set": ["gcp"]},
    ]  # fmt: skip
    assert isinstance(table.rows()[1]["sum"], int)


def test_max_and_min_over_events_compare_numbers_as_numbers() -> None:
    """Regression: max/min over an event field compared its indexed text, so over the
    numbers 5, 30 and -5 max was "5" and min "-5" only by chance of the text. Values that
    read as numbers now compare by value and come before text (MongoDB's order of types)."""
    fields = [{"operator": "max", "key": "additional_info.n", "name": "hi"},
              {"operator": "min", "key": "additional_info.n", "name": "lo"}]  # fmt: skip
    plan = plan_group(group([{"key": "severity"}], fields))
    aggs = composite_aggregations(plan)["groups"]["aggs"]
    numbers_agg = {"field": "additional_info.n", "size": MAX_SET_VALUES,
                   "order": {"_key": "asc"}, "include": NUMBER_REGEX}  # fmt: skip
    assert aggs["f0n"] == {"terms": numbers_agg}

    def terms(*keys: str) -> dict[str, Any]:
        return {"sum_other_doc_count": 0, "buckets": [{"key": k, "doc_count": 1} for k in keys]}

    numbers = terms("-10", "-5", "1e999", "30", "5")  # text order, as Elasticsearch lists them
    page = {"groups": {"buckets": [
        {"key": {"k0": "INFO"}, "doc_count": 5, "f0": terms(), "f0n": numbers,
         "f1": terms(), "f1n": numbers},
        {"key": {"k0": "ERROR"}, "doc_count": 3, "f0": terms("n/a"), "f0n": terms("7", "12"),
         "f1": terms("n/a"), "f1n": terms("7", "12")},
    ]}}  # fmt: skip
    table = GroupTable(plan)
    for key, states in groups_from_aggregations(plan, page)[0]:
        table.add(key, states)
    # "1e999" matches the pattern but is no finite number: it is text, after every number.
    assert table.rows() == [{"severity": "ERROR", "hi": "n/a", "lo": "7"},
                            {"severity": "INFO", "hi": "1e999", "lo": "-10"}]  # fmt: skip
    hits = [{"fields": {"severity": ["INFO"], "additional_info.n": v}}
            for v in (["30"], ["5", "-5"], ["n/a"], ["100"])]  # fmt: skip
    scanned = GroupTable(plan)
    for key, states in groups_from_hits(plan, hits):
        scanned.add(key, states)
    assert scanned.rows() == [{"severity": "INFO", "hi": "n/a", "lo": "-5"}]
    only_numbers = GroupTable(plan)
    for key, states in groups_from_hits(plan, hits[:2] + hits[3:]):
        only_numbers.add(key, states)
    assert only_numbers.rows() == [{"severity": "INFO", "hi": "100", "lo": "-5"}]


def test_a_set_too_big_for_one_request_is_refused() -> None:
    plan = plan_group(group([{"key": "severity"}],
                            [{"operator": "add_to_set", "key": "title", "name": "s"}]))  # fmt: skip
    page = {"groups": {"buckets": [{"key": {"k0": "INFO"}, "doc_count": 9,
                                    "f0": {"sum_other_doc_count": 1, "buckets": []}}]}}  # fmt: skip
    with pytest.raises(QueryError) as error:
        groups_from_aggregations(plan, page)
    assert error.value.code == "ERROR_STAT_TOO_LARGE"


def test_scanned_events_group_like_buckets() -> None:
    plan = plan_group(
        group(
            [{"key": "additional_info.tags", "name": "tag"}],
            [{"operator": "count", "name": "n"},
             {"operator": "push", "key": "additional_info.n", "name": "ns"},
             {"operator": "merge_objects", "key": "resource", "name": "res"},
             {"operator": "sum", "key": "additional_info.n", "name": "sum"},
             {"operator": "last", "key": "created_at", "name": "last"}],
        )
    )  # fmt: skip
    hits = [
        {"fields": {"additional_info.tags": ["a", "b"], "additional_info.n": ["2"],
                    "created_at": [str(MAY_1)], "event_id": ["e1"]},
         "_source": {"additional_info": {"n": 2}, "resource": {"name": "x", "resource_id": "1"},
                     "created_at": "2024-05-01T00:00:00Z"}},
        {"fields": {"additional_info.tags": ["b"], "created_at": [str(MAY_1 + 1)],
                    "event_id": ["e2"]},
         "_source": {"resource": {"name": "y"}, "created_at": "2024-05-01T00:00:00.001Z"}},
        {"fields": {"additional_info.n": ["x"], "created_at": [str(MAY_1 + 2)],
                    "event_id": ["e3"]},
         "_source": {"additional_info": {"n": "x"}, "resource": "oops",
                     "created_at": MAY_1 + 2}},
    ]  # fmt: skip
    table = GroupTable(plan)
    for key, states in groups_from_hits(plan, hits):
        table.add(key, states)
    assert table.rows() == [
        {"tag": "a", "n": 1, "ns": [2], "res": {"name": "x", "resource_id": "1"}, "sum": 2,
         "last": "2024-05-01T00:00:00.000Z"},
        {"tag": "b", "n": 2, "ns": [2], "res": {"name": "y", "resource_id": "1"}, "sum": 2,
         "last": "2024-05-01T00:00:00.001Z"},
        {"tag": None, "n": 1, "ns": ["x"], "res": {}, "sum": 0,
         "last": "2024-05-01T00:00:00.002Z"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "number"),
    [("5", 5), ("-12", -12), ("1.5", 1.5), ("2e3", 2000.0), (".5", 0.5), ("7.", 7.0),
     ("cpu", None), ("", None), ("1e999", None), ("true", None), ("0x1", None), (" 5", None)],
)  # fmt: skip
def test_read_number(text: str, number: float | None) -> None:
    assert read_number(text) == number
    assert type(read_number(text)) is type(number)


# ---- later stages and paging ---------------------------------------------------------------

ROWS: list[dict[str, Any]] = [
    {"sev": "INFO", "n": 3, "tags": ["a", "b"], "obj": {"x": 2}},
    {"sev": "CRITICAL", "n": 10, "tags": [], "obj": {"x": 1}},
    {"sev": None, "n": 3, "tags": ["c"]},
    {"sev": "ERROR", "n": 7, "tags": "solo", "obj": {"x": None}},
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([{"count": {"name": "rows"}}], [{"rows": 4}]),
        ([{"limit": 0}, {"count": {"name": "rows"}}], []),
        ([{"sort": {"key": "n"}}], [ROWS[0], ROWS[2], ROWS[3], ROWS[1]]),
        ([{"sort": {"key": "n", "desc": True}}], [ROWS[1], ROWS[3], ROWS[0], ROWS[2]]),
        ([{"sort": {"key": "sev"}}], [ROWS[1], ROWS[3], ROWS[0], ROWS[2]]),
        ([{"sort": {"key": "sev", "desc": True}}], [ROWS[0], ROWS[3], ROWS[1], ROWS[2]]),
        ([{"sort": {"keys": [{"key": "n"}, {"key": "sev", "desc": True}]}}],
         [ROWS[0], ROWS[2], ROWS[3], ROWS[1]]),
        ([{"sort": [{"key": "obj.x", "desc": True}]}], [ROWS[0], ROWS[1], ROWS[2], ROWS[3]]),
        ([{"sort": [{"key": "obj.x"}]}], [ROWS[1], ROWS[0], ROWS[2], ROWS[3]]),
        # project keeps the group keys (here `sev`) unless exclude_keys is true
        ([{"project": {"fields": [{"key": "n", "name": "count"}, {"key": "obj.x"}]}}],
         [{"sev": "INFO", "count": 3, "obj.x": 2}, {"sev": "CRITICAL", "count": 10, "obj.x": 1},
          {"sev": None, "count": 3}, {"sev": "ERROR", "count": 7, "obj.x": None}]),
        ([{"project": {"fields": ["n", {"key": "tags", "name": "k", "operator": "size"}],
                       "exclude_keys": True}}, {"limit": 3}],
         [{"n": 3, "k": 2}, {"n": 10, "k": 0}, {"n": 3, "k": 1}]),
        ([{"project": {"exclude_keys": True}}, {"limit": 2}], [{}, {}]),
        ([{"unwind": {"path": "tags"}}, {"project": {"fields": ["tags"]}}],
         [{"sev": "INFO", "tags": "a"}, {"sev": "INFO", "tags": "b"}, {"sev": None, "tags": "c"},
          {"sev": "ERROR", "tags": "solo"}]),
        ([{"unwind": {"path": "$obj.x"}}, {"project": {"fields": ["obj"], "exclude_keys": True}}],
         [{"obj": {"x": 2}}, {"obj": {"x": 1}}]),
        ([{"skip": 1}, {"limit": 2}], ROWS[1:3]),
        ([{"limit": 2}, {"skip": 1}], ROWS[1:2]),
        ([{"skip": 9}], []),
        ([{"skip": 9}, {"count": {"name": "c"}}], []),
        ([{"skip": 9}, {"group": {"fields": [{"operator": "count", "name": "c"}]}}], []),
        # a second group groups rows: a list is one key, as MongoDB's $group does
        ([{"group": {"keys": [{"key": "n"}], "fields": [
            {"operator": "count", "name": "rows"}, {"operator": "push", "key": "sev", "name": "s"},
            {"operator": "add_to_set", "key": "tags", "name": "t"},
            {"operator": "sum", "key": "obj.x", "name": "x"},
            {"operator": "average", "key": "n", "name": "a"},
            {"operator": "max", "key": "sev", "name": "m"},
            {"operator": "first", "key": "obj", "name": "f"}]}}],
         [{"n": 3, "rows": 2, "s": ["INFO", None], "t": [["a", "b"], ["c"]], "x": 2, "a": 3.0,
           "m": "INFO", "f": {"x": 2}},
          {"n": 7, "rows": 1, "s": ["ERROR"], "t": ["solo"], "x": 0, "a": 7.0, "m": "ERROR",
           "f": {"x": None}},
          {"n": 10, "rows": 1, "s": ["CRITICAL"], "t": [[]], "x": 1, "a": 10.0, "m": "CRITICAL",
           "f": {"x": 1}}]),
        # ordered as a sort orders them: a list by its smallest element, an empty one last
        ([{"group": {"keys": [{"key": "tags", "name": "t"}]}}],
         [{"t": ["a", "b"]}, {"t": ["c"]}, {"t": "solo"}, {"t": []}]),
        ([{"group": {"fields": [{"operator": "last", "key": "obj.x", "name": "l"},
                                {"operator": "min", "key": "n", "name": "lo"}]}}],
         [{"l": None, "lo": 3}]),
    ],
)  # fmt: skip
def test_later_stages(raw: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    before = [dict(row) for row in ROWS]
    assert run_stages(Rows(list(ROWS), ("sev",)), stages(*raw)).rows == expected
    assert before == ROWS  # stages never change the rows they are given


def test_a_sort_over_rows_reads_a_list_as_mongodb_does() -> None:
    """Regression: a sort over rows compared lists element by element, so descending
    ["b"] came before ["a", "c"]. A list sorts by its smallest element ascending and its
    largest descending (MongoDB's $sort, and list's sort of a field with several values);
    an empty list is missing, last both ways."""
    rows = [{"id": 1, "v": ["a", "c"]}, {"id": 2, "v": ["b"]}, {"id": 3, "v": []},
            {"id": 4, "v": "bb"}, {"id": 5, "v": [7, "z"]}]  # fmt: skip

    def ids(desc: bool) -> list[int]:
        sort = Stage.model_validate({"sort": {"key": "v", "desc": desc}})
        return [row["id"] for row in run_stages(Rows(rows), [sort]).rows]

    assert ids(desc=False) == [5, 1, 2, 4, 3]  # 7 (a number first), "a", "b", "bb", then []
    assert ids(desc=True) == [5, 1, 4, 2, 3]  # "z", "c", "bb", "b", then []


@pytest.mark.parametrize(
    ("raw", "mode", "window", "events", "rest"),
    [
        ([{"group": {"keys": [{"key": "severity"}]}}, {"sort": {"key": "severity"}}, {"limit": 3}],
         "group", Window(), 0, 2),
        ([{"sort": {"key": "title"}}, {"limit": 10}, {"group": {}}], "group",
         Window(sort=(SortKey(key="title"),), limit=10), 0, 0),
        ([{"skip": 2}, {"limit": 10}, {"skip": 3}, {"limit": 4}, {"count": {"name": "c"}}],
         "count", Window(offset=5, limit=4), 0, 0),
        ([{"sort": {"key": "title"}}, {"sort": {"key": "rule"}}, {"skip": 1},
          {"sort": {"key": "x"}}, {"limit": 2}, {"group": {}}, {"group": {}}],
         "group", Window(sort=(SortKey(key="rule"),), offset=1), 2, 1),
        ([{"limit": 5}, {"project": {"fields": ["title"]}}, {"unwind": {"path": "title"}}],
         "documents", Window(limit=5), 0, 2),
        ([{"sort": {"key": "title", "desc": True}}], "documents",
         Window(sort=(SortKey(key="title", desc=True),)), 0, 0),
    ],
)  # fmt: skip
def test_plan_gives_elasticsearch_the_longest_prefix(
    raw: list[dict[str, Any]], mode: str, window: Window, events: int, rest: int
) -> None:
    plan = plan_stat(StatisticsQuery.model_validate({"aggregate": raw}))
    assert (plan.mode, plan.window, len(plan.event_stages), len(plan.stages)) == (
        mode, window, events, rest)  # fmt: skip


def test_a_top_n_search_reads_only_what_the_group_needs() -> None:
    def request(raw: list[dict[str, Any]]) -> dict[str, Any]:
        return fetch_request(plan_stat(StatisticsQuery.model_validate({"aggregate": raw})))

    top = [{"sort": {"key": "created_at", "desc": True}}, {"limit": 1000}]
    counted = request([*top, {"group": {"keys": [{"key": "severity"}]}}])
    assert counted == {"_source": False, "docvalue_fields": [{"field": "severity"}]}
    firsts = request([*top, {"group": {"fields": [
        {"operator": "first", "key": "title", "name": "t"}]}}])  # fmt: skip
    # The events come in the sort's order, the order `first` sees: no order fields needed.
    assert firsts == {"_source": {"includes": ["title"]}, "docvalue_fields": []}
    resorted = request([*top, {"sort": {"key": "title"}}, {"count": {"name": "n"}}])
    assert resorted == {"_source": False, "docvalue_fields": [
        {"field": "event_id"}, {"field": "title.keyword"}]}  # fmt: skip
    assert request(top)["_source"] is True


def test_only_a_group_over_every_event_aggregates() -> None:
    def fetches(raw: list[dict[str, Any]]) -> bool:
        return plan_stat(StatisticsQuery.model_validate({"aggregate": raw})).fetches_events

    assert not fetches([{"sort": {"key": "title"}}, {"group": {}}, {"limit": 1}])
    assert not fetches([{"skip": 3}, {"count": {"name": "n"}}])
    assert fetches([{"skip": 3}, {"group": {}}])
    assert fetches([{"limit": 3}, {"group": {}}])
    assert fetches([{"group": {"fields": [{"operator": "push", "key": "title", "name": "p"}]}}])
    assert fetches([{"limit": 3}, {"sort": {"key": "title"}}, {"count": {"name": "n"}}])


def test_sort_hits_orders_as_elasticsearch() -> None:
    def hit(event_id: str, **fields: list[Any]) -> dict[str, Any]:
        return {"fields": {"event_id": [event_id], **fields}}

    hits = [hit("e3", **{"title.keyword": ["b"]}), hit("e1"),
            hit("e2", **{"title.keyword": ["a", "c"]}), hit("e0", **{"title.keyword": ["b"]}),
            hit("e4", created_at=["-5"])]  # fmt: skip
    order = [h["fields"]["event_id"][0] for h in sort_hits(hits, [SortKey(key="title")])]
    assert order == ["e2", "e0", "e3", "e1", "e4"]  # min value ascending, missing last
    order = [h["fields"]["event_id"][0] for h in sort_hits(hits, [SortKey(key="title", desc=True)])]
    assert order == ["e2", "e0", "e3", "e1", "e4"]  # max value descending, ties by id
    by_date = sort_hits(hits, [SortKey(key="created_at"), SortKey(key="nope")])
    assert [h["fields"]["event_id"][0] for h in by_date] == ["e4", "e0", "e1", "e2", "e3"]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (Page(), {"results": [1, 2, 3, 4, 5]}),
        (Page(start=1, limit=2), {"results": [1, 2], "total_count": 5}),
        (Page(start=4, limit=2), {"results": [4, 5], "total_count": 5}),
        (Page(start=5, limit=9), {"results": [5], "total_count": 5}),
        (Page(start=6, limit=1), {"results": [], "total_count": 5}),
        (Page(start=3, limit=0), {"results": [1, 2, 3, 4, 5]}),
    ],
)
def test_page(page: Page, expected: dict[str, Any]) -> None:
    assert page_result([1, 2, 3, 4, 5], page) == expected


# ---- the I/O loop, with a stand-in client --------------------------------------------------


class FakeElasticsearch:
    """Answers composite pages from canned buckets; refuses pages bigger than `max_page`."""

    def __init__(self, keys: list[str], max_page: int) -> None:
        self.keys, self.max_page = keys, max_page
        self.requests: list[dict[str, Any]] = []

    async def search(self, **request: Any) -> dict[str, Any]:
        from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
        from elasticsearch import BadRequestError

        self.requests.append(request)
        composite = request["aggs"]["groups"]["composite"]
        if composite["size"] > self.max_page:
            meta = ApiResponseMeta(400, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "x", 9200))
            body = {"error": {"caused_by": {"type": "too_many_buckets_exception"}}}
            raise BadRequestError("too many buckets", meta, body)
        start = composite.get("after", {}).get("k0")
        rest = [k for k in self.keys if start is None or k > start][: composite["size"]]
        buckets = [{"key": {"k0": k}, "doc_count": 1} for k in rest]
        after = {"after_key": {"k0": rest[-1]}} if rest else {}
        return {"aggregations": {"groups": {"buckets": buckets, **after}}}


async def test_too_many_buckets_asks_for_smaller_pages() -> None:
    from query_api.services.events import _aggregate

    plan = plan_group(group([{"key": "severity"}], [{"operator": "count", "name": "n"}]))
    es = FakeElasticsearch([f"s{i:02d}" for i in range(40)], max_page=31)
    rows = await _aggregate(es, "events", {"match_all": {}}, plan)  # type: ignore[arg-type]
    assert rows.rows == [{"severity": f"s{i:02d}", "n": 1} for i in range(40)]
    sizes = [r["aggs"]["groups"]["composite"]["size"] for r in es.requests]
    assert sizes[:3] == [2000, 500, 125] and set(sizes[3:]) == {31}
    assert all(r["query"] == {"match_all": {}} for r in es.requests)

    hopeless = FakeElasticsearch(["a"], max_page=0)
    with pytest.raises(QueryError) as error:
        await _aggregate(hopeless, "events", {"match_all": {}}, plan)  # type: ignore[arg-type]
    assert error.value.code == "ERROR_STAT_TOO_LARGE"
    assert [r["aggs"]["groups"]["composite"]["size"] for r in hopeless.requests] == [
        2000, 500, 125, 31, 7, 1]  # fmt: skip


def test_date_buckets_in_a_time_zone() -> None:
    """A key's time_zone moves bucket edges to that zone's midnights and formats in it."""
    day = {"key": "created_at", "name": "day", "date_format": "%Y-%m-%d %H:%M",
           "time_zone": "America/New_York"}  # fmt: skip
    group = Group.model_validate({"keys": [day], "fields": []})
    key = plan_group(group).keys[0]
    assert key.source()["date_histogram"]["time_zone"] == "America/New_York"
    # 2026-12-05T04:30Z is 23:30 the day before in New York
    assert key.indexed_value(1796445000000) == "2026-12-04 23:30"
    with pytest.raises(ValueError, match="unknown time zone"):
        Group.model_validate({"keys": [{"key": "created_at", "time_zone": "Nowhere/X"}]})
