"""Alerts for one authenticated caller: list and get, read-only (the worker writes them),
confined to the caller's domain as events are.

Alert list queries become an Elasticsearch search of the alerts index here.

Alerts are few beside events and their fields are plain (keywords, dates, a count), so
the Query language is served with a smaller operator set than events get: eq, not, in,
not_in, contain, not_contain (case-insensitive substring), lt/lte/gt/gte (dates by
instant, event_count as a number, keywords by code point) and exists. Anything else is
ERROR_INVALID_ARGUMENT, saying which operators alerts take. Paging stays within
Elasticsearch's from+size window: an alert list is read by people, not exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from query_api.query.translate import scoped
from query_api.services.apikeys import domain_scope
from schemas.alert import AlertQuery, GetAlertRequest
from schemas.apikey import Caller
from schemas.errors import ApiError
from schemas.event import format_timestamp
from schemas.index import ALERT_MAPPINGS
from schemas.query import Condition, Query, QueryError, SortKey

INVALID = "ERROR_INVALID_ARGUMENT"
MAX_WINDOW = 10_000
ALERT_FIELDS: dict[str, str] = {
    name: spec["type"] for name, spec in ALERT_MAPPINGS["properties"].items()
}
ALERT_OPERATORS = ("eq", "not", "in", "not_in", "contain", "not_contain",
                   "lt", "lte", "gt", "gte", "exists")  # fmt: skip
DEFAULT_SORT = (SortKey(key="last_event_at", desc=True),)


@dataclass(frozen=True)
class AlertSearch:
    """The search body of an alert list: query, sort, window and whether only counting."""

    query: dict[str, Any]
    sort: tuple[dict[str, Any], ...]
    offset: int
    size: int
    count_only: bool


def translate_alert_list(query: Query, exact: Mapping[str, str | None]) -> AlertSearch:
    """A Query over alert fields plus exact-match filters (None: not given) -> the search."""
    clauses = [{"term": {name: value}} for name, value in exact.items() if value is not None]
    clauses += [_condition(c) for c in query.filter]
    if query.filter_or:
        clauses.append({"bool": {"should": [_condition(c) for c in query.filter_or],
                                 "minimum_should_match": 1}})  # fmt: skip
    if query.keyword and query.keyword.split():
        clauses.append(_keyword(query.keyword))
    offset = query.page.start - 1
    size = query.page.limit or MAX_WINDOW
    if offset + size > MAX_WINDOW:
        raise QueryError(INVALID, f"page: alerts are listed within the first {MAX_WINDOW}")
    return AlertSearch(
        query={"bool": {"filter": clauses}} if clauses else {"match_all": {}},
        sort=_sort(query.sort),
        offset=offset,
        size=size,
        count_only=query.count_only,
    )


def _kind(key: str) -> str:
    kind = ALERT_FIELDS.get(key)
    if kind is None:
        raise QueryError(
            INVALID, f"{key!r} is not an alert field; fields: {', '.join(ALERT_FIELDS)}"
        )
    return kind


def _value(kind: str, key: str, value: Any) -> Any:
    """A value as the field compares it: dates as ISO instants, counts as numbers."""
    if isinstance(value, (dict, list)):
        raise QueryError(INVALID, f"{key}: needs a single value, not {value!r}")
    if kind == "date":
        try:
            instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(INVALID, f"{key}: {value!r} is not an ISO-8601 date") from None
        return format_timestamp(instant)
    if kind == "long":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise QueryError(INVALID, f"{key}: {value!r} is not a whole number") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _condition(condition: Condition) -> dict[str, Any]:
    key, op, value = condition.key, condition.operator, condition.value
    kind = _kind(key)
    if op not in ALERT_OPERATORS:
        raise QueryError(INVALID, f"{key}: alerts take the operators {', '.join(ALERT_OPERATORS)}")
    if op == "exists":
        exists = {"exists": {"field": key}}
        return exists if value in (True, None, "true") else {"bool": {"must_not": [exists]}}
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise QueryError(INVALID, f"{key}: {op} needs a list")
        positive: dict[str, Any] = {"terms": {key: [_value(kind, key, v) for v in value]}}
    elif op in ("contain", "not_contain"):
        if kind != "keyword":
            raise QueryError(INVALID, f"{key}: {op} needs a text field")
        pattern = "*" + _escape_wildcard(str(value)) + "*"
        positive = {"wildcard": {key: {"value": pattern, "case_insensitive": True}}}
    elif op in ("lt", "lte", "gt", "gte"):
        positive = {"range": {key: {op: _value(kind, key, value)}}}
    else:
        positive = {"term": {key: _value(kind, key, value)}}
    return {"bool": {"must_not": [positive]}} if op.startswith("not") else positive


def _keyword(keyword: str) -> dict[str, Any]:
    """Any word as a case-insensitive substring of the alert id or its event key."""
    should = [
        {"wildcard": {field: {"value": f"*{_escape_wildcard(word)}*", "case_insensitive": True}}}
        for word in keyword.split()
        for field in ("alert_id", "event_key")
    ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _escape_wildcard(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _sort(keys: list[SortKey]) -> tuple[dict[str, Any], ...]:
    clauses = []
    for key in keys or DEFAULT_SORT:
        _kind(key.key)
        clauses.append({key.key: {"order": "desc" if key.desc else "asc", "missing": "_last"}})
    clauses.append({"alert_id": {"order": "asc"}})
    return tuple(clauses)


async def list_alerts(
    es: AsyncElasticsearch, index: str, caller: Caller, request: AlertQuery
) -> dict[str, Any]:
    """Alerts matching a Query over alert fields: `{results, total_count}`, newest first."""
    domain = domain_scope(caller, request.domain_id)
    exact = {"alert_id": request.alert_id, "event_key": request.event_key,
             "state": request.state, "project_id": request.project_id}  # fmt: skip
    search = translate_alert_list(request.query, exact)
    try:
        body = await es.search(
            index=index,
            query=scoped(search.query, domain),
            sort=list(search.sort),
            from_=search.offset,
            size=0 if search.count_only else search.size,
            track_total_hits=True,
        )
    except NotFoundError:  # no worker has written an alert yet
        return {"results": [], "total_count": 0}
    hits = body["hits"]
    return {"results": [hit["_source"] for hit in hits["hits"]],
            "total_count": hits["total"]["value"]}  # fmt: skip


async def get_alert(
    es: AsyncElasticsearch, index: str, caller: Caller, request: GetAlertRequest
) -> dict[str, Any]:
    """One alert by id; another domain's alert is 404, as one that does not exist."""
    domain = domain_scope(caller, request.domain_id)
    query = scoped({"term": {"alert_id": request.alert_id}}, domain)
    try:
        body = await es.search(index=index, query=query, size=1)
    except NotFoundError:
        body = {"hits": {"hits": []}}
    if not body["hits"]["hits"]:
        raise ApiError(404, "ERROR_NOT_FOUND", f"alert {request.alert_id!r} not found")
    return body["hits"]["hits"][0]["_source"]
