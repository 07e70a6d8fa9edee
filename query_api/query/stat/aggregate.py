"""A group stage as composite aggregations, paged to completion, read into group states.

One composite page per request, a bucket per combination of key values (a group without
keys: one `filters` bucket of every event). Fields are sub-aggregations: count the bucket's
doc_count, add_to_set/sum/average a terms list of the field's distinct values, max/min the
first text and the list of values that read as numbers (those compare by value),
first/last a top hit in created_at order. A terms list that had to be cut raises
SetOverflow, and the stage is answered by a scan of the events instead.
"""

from __future__ import annotations

from typing import Any

from query_api.query.stat.groups import SortValue
from query_api.query.stat.limits import COMPOSITE_PAGE_SIZE, INVALID, MAX_SET_VALUES, TOO_LARGE
from query_api.query.stat.plan import FieldPlan, GroupPlan
from query_api.query.stat.rows import MISSING, NUMBER_REGEX, read_number
from query_api.query.stat.values import format_millis, stored_value, value_order
from schemas.query import QueryError


def composite_aggregations(
    plan: GroupPlan, *, after: dict[str, Any] | None = None, size: int = COMPOSITE_PAGE_SIZE
) -> dict[str, Any]:
    """The `aggs` of one page of a group stage (no keys: one bucket of every event)."""
    sub = {name: agg for i, item in enumerate(plan.fields)
           for name, agg in _field_aggs(item, f"f{i}", plan.id_field).items()}  # fmt: skip
    if not plan.keys:
        groups: dict[str, Any] = {"filters": {"filters": {"all": {"match_all": {}}}}}
    else:
        sources = [{f"k{i}": key.source()} for i, key in enumerate(plan.keys)]
        groups = {"composite": {"size": size, "sources": sources}}
        if after is not None:
            groups["composite"]["after"] = after
    if sub:
        groups["aggs"] = sub
    return {"groups": groups}


# Fields whose values are text, where some may read as numbers (max/min order those by value).
TEXT_KINDS = ("keyword", "text", "flattened")


def _field_aggs(item: FieldPlan, name: str, id_field: str = "event_id") -> dict[str, Any]:
    """The sub-aggregations of one field, by name: `name`, and for max/min over text also
    `name`n, the values that read as numbers (which order by value, not as text)."""
    op = item.operator
    if op in ("max", "min") and item.kind in TEXT_KINDS:
        order = "desc" if op == "max" else "asc"
        text = {"field": item.field, "size": 1, "order": {"_key": order}, "exclude": NUMBER_REGEX}
        numbers = {"field": item.field, "size": MAX_SET_VALUES, "order": {"_key": "asc"},
                   "include": NUMBER_REGEX}  # fmt: skip
        return {name: {"terms": text}, f"{name}n": {"terms": numbers}}
    agg = _field_agg(item, id_field)
    return {} if agg is None else {name: agg}


def _field_agg(item: FieldPlan, id_field: str = "event_id") -> dict[str, Any] | None:
    op = item.operator
    if op == "count" or (op in ("sum", "average") and item.kind == "date"):
        return None  # doc_count; a date is never a number
    if op in ("first", "last"):
        order = "asc" if op == "first" else "desc"
        return {"top_hits": {"size": 1, "_source": {"includes": [item.path]},
                             "sort": [{"created_at": order}, {id_field: order}]}}  # fmt: skip
    if op in ("max", "min") and item.kind == "date":
        return {op: {"field": item.field}}
    if op in ("max", "min"):  # a number or boolean field: its own order
        order = "desc" if op == "max" else "asc"
        return {"terms": {"field": item.field, "size": 1, "order": {"_key": order}}}
    if op in ("add_to_set", "sum", "average"):
        return {"terms": {"field": item.field, "size": MAX_SET_VALUES, "order": {"_key": "asc"}}}
    raise QueryError(INVALID, f"{op} cannot be aggregated")  # push/merge_objects scan


def groups_from_aggregations(
    plan: GroupPlan, aggregations: dict[str, Any]
) -> tuple[list[tuple[tuple[Any, ...], list[Any]]], dict[str, Any] | None]:
    """(row keys, field states) of each bucket of one page, and the `after` of the next page."""
    groups = aggregations["groups"]
    if not plan.keys:
        bucket = groups["buckets"]["all"]
        if not bucket["doc_count"]:
            return [], None
        return [((), [_bucket_state(item, i, bucket) for i, item in enumerate(plan.fields)])], None
    out = []
    for bucket in groups["buckets"]:
        key = tuple(k.bucket_value(bucket["key"][f"k{i}"]) for i, k in enumerate(plan.keys))
        out.append((key, [_bucket_state(item, i, bucket) for i, item in enumerate(plan.fields)]))
    return out, (groups.get("after_key") if groups["buckets"] else None)


class SetOverflow(QueryError):
    """A group's terms list of a field was cut: the stage is answered by a scan instead."""


def _terms_buckets(item: FieldPlan, agg: dict[str, Any], *, exact: bool) -> list[dict[str, Any]]:
    if exact and (agg.get("sum_other_doc_count") or agg.get("doc_count_error_upper_bound")):
        raise SetOverflow(TOO_LARGE, f"{item.operator} of {item.path!r}: a group has more than "
                                     f"{MAX_SET_VALUES} distinct values")  # fmt: skip
    return agg["buckets"]


def _bucket_state(item: FieldPlan, index: int, bucket: dict[str, Any]) -> Any:
    """The mergeable state of one field in one composite bucket."""
    op, agg = item.operator, bucket.get(f"f{index}", {})
    if op == "count":
        return bucket["doc_count"]
    if op in ("sum", "average"):
        total: int | float = 0
        count = 0
        for term in _terms_buckets(item, agg, exact=True) if agg else []:
            number = read_number(term["key"])
            if number is not None:
                total += number * term["doc_count"]
                count += term["doc_count"]
        return (total, count)
    if op in ("max", "min") and item.kind == "date":
        return None if agg.get("value") is None else format_millis(agg["value"])
    if op in ("max", "min"):  # the first text, and every value that may read as a number
        numbers = bucket.get(f"f{index}n")
        terms = _terms_buckets(item, agg, exact=False)[:1] if agg else []
        terms += _terms_buckets(item, numbers, exact=True) if numbers else []
        values = [_term_value(item, term) for term in terms]
        return (max if op == "max" else min)(values, key=value_order) if values else None
    if op == "add_to_set":
        return {_term_value(item, term) for term in _terms_buckets(item, agg, exact=True)}
    hit = agg["hits"]["hits"][0]  # first/last: a bucket has at least one event
    value = stored_value(hit.get("_source", {}), item.path, item.kind)
    return (_sort_value(hit), None if value is MISSING else value)


def _term_value(item: FieldPlan, term: dict[str, Any]) -> Any:
    return format_millis(term["key"]) if item.kind == "date" else term["key"]


def _sort_value(hit: dict[str, Any]) -> SortValue:
    created, event_id = hit["sort"][:2]
    return (int(created), str(event_id))
