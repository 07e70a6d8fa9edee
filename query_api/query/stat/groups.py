"""The group table: groups by row key, each field held as a mergeable state until the end.

Composite buckets (`aggregate`) and fetched events (`fetch`) both arrive here as
(row key, field states); states of one key merge (counts add, sets unite, first/last keep
the earliest/latest by their place in the order the group sees), and `rows` finishes them.
"""

from __future__ import annotations

from typing import Any

from query_api.query.stat.plan import GroupPlan
from query_api.query.stat.rows import sort_rows
from query_api.query.stat.values import value_order
from schemas.query import SortKey

SortValue = tuple[int, str]  # (created_at epoch millis, the document's id)
# Where an event stands in the order a group sees: its (created_at, event_id) from a
# composite bucket's top hit, or its position among the events fetched in window order.
EventOrder = SortValue | int


class GroupTable:
    """Groups by row key, merging the states of buckets or events that share a key."""

    def __init__(self, plan: GroupPlan) -> None:
        self.plan = plan
        self.states: dict[tuple[Any, ...], list[Any]] = {}

    def add(self, key: tuple[Any, ...], states: list[Any]) -> None:
        current = self.states.get(key)
        if current is None:
            self.states[key] = list(states)
            return
        for i, item in enumerate(self.plan.fields):
            current[i] = _merge(item.operator, current[i], states[i])

    def __len__(self) -> int:
        return len(self.states)

    def rows(self) -> list[dict[str, Any]]:
        """One row per group, keys flattened in, ordered by the keys (missing last)."""
        rows = []
        for key, states in self.states.items():
            row = {k.name: value for k, value in zip(self.plan.keys, key, strict=True)}
            for item, state in zip(self.plan.fields, states, strict=True):
                row[item.name] = _finish(item.operator, state)
            rows.append(row)
        return sort_rows(rows, [SortKey(key=k.name) for k in self.plan.keys])


def _merge(op: str, a: Any, b: Any) -> Any:
    if op == "count":
        return a + b
    if op in ("sum", "average"):
        return (a[0] + b[0], a[1] + b[1])
    if op in ("max", "min", "first", "last"):
        if a is None or b is None:
            return b if a is None else a
        pick = max if op in ("max", "last") else min
        return pick(a, b, key=(lambda s: s[0]) if op in ("first", "last") else value_order)
    if op == "add_to_set":
        return a | b
    return a + b  # push, merge_objects


def _finish(op: str, state: Any) -> Any:
    if op == "sum":
        return state[0]
    if op == "average":
        return state[0] / state[1] if state[1] else None
    if op in ("first", "last"):
        return None if state is None else state[1]
    if op == "add_to_set":
        return sorted(state)
    if op == "push":
        return [value for _, value in sorted(state, key=lambda s: s[0])]
    if op == "merge_objects":
        merged: dict[str, Any] = {}
        for _, value in sorted(state, key=lambda s: s[0]):
            merged.update(value)
        return merged
    return state  # count, max, min
