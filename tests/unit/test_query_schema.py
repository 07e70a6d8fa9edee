"""The query models accept every alias and form of SPEC §5 and §6 and normalize them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.messages import EventQuery
from schemas.query import Query, SortKey, StatisticsQuery

SORTS = [
    ({"key": "created_at", "desc": True}, [SortKey(key="created_at", desc=True)]),
    ({"keys": [{"key": "a"}, {"key": "b", "desc": True}]},
     [SortKey(key="a"), SortKey(key="b", desc=True)]),
    ([{"key": "a", "desc": False}], [SortKey(key="a")]),
    (None, []),
]  # fmt: skip


@pytest.mark.parametrize(("sort", "expected"), SORTS)
def test_three_sort_forms(sort: object, expected: list[SortKey]) -> None:
    assert Query.model_validate({"sort": sort}).sort == expected


def test_condition_aliases() -> None:
    short = Query.model_validate({"filter": [{"k": "severity", "v": "INFO", "o": "not"}]})
    long = Query.model_validate(
        {"filter": [{"key": "severity", "value": "INFO", "operator": "not"}]}
    )
    assert short == long
    assert short.filter[0].operator == "not"
    assert Query.model_validate({"filter": [{"k": "a", "v": 1}]}).filter[0].operator == "eq"


@pytest.mark.parametrize(
    "bad",
    [
        {"filter": [{"v": 1}]},
        {"page": {"start": 0}},
        {"page": {"limit": -1}},
        {"unknown": 1},
        {"sort": {"desc": True}},
    ],
)
def test_malformed_queries_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Query.model_validate(bad)


def test_exact_filters_keep_set_ones_and_skip_domain() -> None:
    request = EventQuery.model_validate(
        {"resource_id": "i-1", "severity": "ERROR", "domain_id": "d", "provider": ""}
    )
    assert request.exact_filters() == {"resource_id": "i-1", "severity": "ERROR"}


def test_stat_stage_has_exactly_one_operation() -> None:
    query = StatisticsQuery.model_validate(
        {"aggregate": [{"group": {"keys": [{"key": "severity"}],
                                  "fields": [{"operator": "count", "name": "n"}]}},
                       {"sort": {"key": "n", "desc": True}}, {"limit": 3}]}
    )  # fmt: skip
    assert query.aggregate[0].group.keys[0].name == "severity"
    assert query.aggregate[1].sort == [SortKey(key="n", desc=True)]
    with pytest.raises(ValidationError):
        StatisticsQuery.model_validate({"aggregate": [{"limit": 1, "skip": 1}]})
    with pytest.raises(ValidationError):
        StatisticsQuery.model_validate({"aggregate": []})
    with pytest.raises(ValidationError, match="needs a key"):
        StatisticsQuery.model_validate(
            {"aggregate": [{"group": {"fields": [{"operator": "sum", "name": "s"}]}}]}
        )
