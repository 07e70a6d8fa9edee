"""A stat over the events themselves: what to fetch of them, and each hit as group states.

Used when a group needs every event (push, merge_objects, a set past MAX_SET_VALUES),
the order a sort gave them (first/last after a sort), or only a window of them; and for
the documents a pipeline without a group or count returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from query_api.query.stat.documents import doc_sort_fields
from query_api.query.stat.groups import EventOrder
from query_api.query.stat.plan import FieldPlan, GroupPlan, StatPlan
from query_api.query.stat.rows import MISSING, read_number
from query_api.query.stat.values import format_millis, stored_value, value_order
from schemas.index import FieldKind


def fetch_request(plan: StatPlan) -> dict[str, Any]:
    """Search options for the events a plan reads: the stored fields it needs and the doc
    values of keys, compared fields and sorts, plus event_id for the ties of a sort here;
    fewer fields make the fetch of a top-N search cheaper. The events come in the window's
    order, which is the order first/last/push/merge_objects see."""
    indexed: dict[str, FieldKind | None] = {}
    if plan.event_stages:  # sorted here: ties by the id
        indexed |= {plan.searchable.id_field: "keyword"}
    for stage in plan.event_stages:
        for name, kind, _ in doc_sort_fields(stage.sort or (), plan.searchable.fields):
            indexed[name] = kind
    sources: Any = False
    if plan.mode == "documents":
        sources = True
    elif plan.group is not None:
        paths = sorted({item.path for item in plan.group.fields if item.reads_source})
        sources = {"includes": paths} if paths else False
        indexed |= {key.field: key.kind for key in plan.group.keys}
        indexed |= {item.field: item.kind for item in plan.group.fields if item.reads_values}
    docvalues = [
        {"field": name, "format": "epoch_millis"} if kind == "date" else {"field": name}
        for name, kind in sorted(indexed.items())
    ]
    return {"_source": sources, "docvalue_fields": docvalues}


def groups_from_hits(
    plan: GroupPlan, hits: Iterable[dict[str, Any]], start: int = 0
) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """(row keys, field states) of each event, once per combination of its key values.

    `hits` come in the order the group sees them; `start` is the position of the first
    (events fetched a page at a time go on counting)."""
    for position, hit in enumerate(hits, start):
        values = hit.get("fields", {})
        states = [_hit_state(item, hit, values, position) for item in plan.fields]
        key_values = [sorted({key.indexed_value(v) for v in values.get(key.field, [])})
                      or [None] for key in plan.keys]  # fmt: skip
        for key in itertools.product(*key_values):
            yield key, states


def _hit_state(
    item: FieldPlan, hit: dict[str, Any], doc_values: dict[str, list[Any]], order: EventOrder
) -> Any:
    op = item.operator
    if op == "count":
        return 1
    if item.reads_values:
        raw = doc_values.get(item.field, [])
        values = {format_millis(v) for v in raw} if item.kind == "date" else set(raw)
        if op in ("sum", "average"):
            numbers = [] if item.kind == "date" else [read_number(v) for v in values]
            present = [n for n in numbers if n is not None]
            return (sum(present), len(present))
        if op == "add_to_set":
            return values
        return (max if op == "max" else min)(values, key=value_order) if values else None
    value = stored_value(hit.get("_source", {}), item.path, item.kind)
    if op in ("first", "last"):
        return (order, None if value is MISSING else value)
    if op == "merge_objects":
        return [(order, value)] if isinstance(value, dict) else []
    return [] if value is MISSING else [(order, value)]  # push
