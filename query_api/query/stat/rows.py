"""The stages of a stat pipeline that run in Python over rows (SPEC §6), purely.

Rows are plain JSON objects: what a `group` or `count` produced, or events turned
into rows by a `project` or `unwind` (their stored fields, dates as in EventInfo).
Here the stages follow MongoDB's aggregation pipeline over documents:

- `group` over rows: a key is the value at its path as it is (a list is one key,
  compared as JSON), `null` when missing; a `date_format` formats a value that reads
  as an ISO-8601 date (UTC), anything else is `null`. Fields: count; sum/average add
  the values that are numbers or read as numbers (`"5"`), skipping the rest (sum 0
  and average null when none; average always a float); max/min by the order below,
  ignoring null; first/last in row order (null when missing); push the present
  values in row order; add_to_set the distinct present values, sorted; merge_objects
  merges the objects in row order. Rows come out ordered by their keys (null last).
  No rows in, no rows out.
- `count` gives `{name: n}`, or no row at all for no rows.
- `sort`: stable, missing or null last whichever the direction; values order as
  numbers < strings < objects < lists < booleans; a list sorts by its smallest element
  ascending, its largest descending, an empty one as missing.
- `project`: the current group keys plus each field (`size`: the length of a
  list), unless `exclude_keys`; a missing value is left out.
- `unwind`: one row per element of the list at `path`; a missing, null or empty
  list drops the row, a scalar is kept as is.
- `limit`, `skip`.
Unwind can multiply rows: past MAX_ROWS the stat is refused (ERROR_STAT_TOO_LARGE).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from query_api.query.stat.limits import MAX_ROWS, too_large
from schemas.query import Group, GroupKey, Page, ProjectStage, SortKey, Stage

NAMED_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# The same text as a Lucene regular expression (always anchored), for a terms aggregation's
# include/exclude: which indexed values may read as numbers (`read_number` decides).
NUMBER_REGEX = r"(\+|-)?([0-9]+\.?[0-9]*|\.[0-9]+)([eE](\+|-)?[0-9]+)?"
MISSING: Any = object()


@dataclass
class Rows:
    """Rows and the names of the group keys they carry (what `project` keeps)."""

    rows: list[dict[str, Any]]
    group_keys: tuple[str, ...] = ()


def run_stages(current: Rows, stages: Iterable[Stage]) -> Rows:
    """Run `stages` in order over rows."""
    for stage in stages:
        current = run_stage(current, stage)
    return current


def run_stage(current: Rows, stage: Stage) -> Rows:
    rows, keys = current.rows, current.group_keys
    if stage.group is not None:
        return Rows(group_rows(rows, stage.group), tuple(k.name for k in stage.group.keys))
    if stage.count is not None:
        return Rows([{stage.count.name: len(rows)}] if rows else [])
    if stage.sort is not None:
        return Rows(sort_rows(rows, stage.sort), keys)
    if stage.project is not None:
        projected = [project_row(row, stage.project, keys) for row in rows]
        return Rows(projected, () if stage.project.exclude_keys else keys)
    if stage.unwind is not None:
        return Rows(unwind_rows(rows, stage.unwind.path.removeprefix("$")), keys)
    if stage.limit is not None:
        return Rows(rows[: stage.limit], keys)
    assert stage.skip is not None
    return Rows(rows[stage.skip :], keys)


# ---- values --------------------------------------------------------------------------------


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (MISSING if absent); a literal dotted key wins, and a
    list on the way yields the values of its elements."""
    if isinstance(obj, list):
        found = [v for item in obj if (v := lookup(item, path)) is not MISSING]
        return found if found else MISSING
    if not isinstance(obj, dict):
        return MISSING
    if path in obj:
        return obj[path]
    parts = path.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        if head in obj:
            found = lookup(obj[head], ".".join(parts[cut:]))
            if found is not MISSING:
                return found
    return MISSING


def order_key(value: Any) -> tuple[Any, ...]:
    """A total order over JSON values: numbers, strings, objects, lists, booleans."""
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, dict):
        return (2, json.dumps(value, sort_keys=True, default=str))
    if isinstance(value, list):
        return (3, tuple(order_key(v) for v in value))
    return (5, str(value))


def read_number(value: Any) -> int | float | None:
    """A value as a number, or None: 5 -> 5, `"1.5"` -> 1.5, `"cpu"`, true, [] -> None."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    text = str(value)
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _identity(value: Any) -> str:
    """Equal JSON values, equal identities (1 and 1.0 alike, as MongoDB groups them)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, default=str)


# ---- group ---------------------------------------------------------------------------------


def group_rows(rows: list[dict[str, Any]], group: Group) -> list[dict[str, Any]]:
    """MongoDB's `$group` over rows: one row per distinct combination of key values."""
    members: dict[tuple[str, ...], tuple[list[Any], list[dict[str, Any]]]] = {}
    for row in rows:
        values = [_row_key(row, key) for key in group.keys]
        identity = tuple(_identity(v) for v in values)
        members.setdefault(identity, (values, []))[1].append(row)
    out = []
    for values, grouped in members.values():
        result = {key.name: value for key, value in zip(group.keys, values, strict=True)}
        for item in group.fields:
            result[item.name] = _operate(item.operator, item.key or "", grouped)
        out.append(result)
    return sort_rows(out, [SortKey(key=key.name) for key in group.keys])


def _row_key(row: dict[str, Any], key: GroupKey) -> Any:
    value = lookup(row, key.key)
    if value is MISSING:
        return None
    if key.date_format is None or value is None:
        return value
    pattern = NAMED_FORMATS.get(key.date_format, key.date_format)
    moment = read_date(value)
    return None if moment is None else moment.strftime(pattern)


def read_date(value: Any) -> datetime | None:
    """An ISO-8601 string as a UTC datetime (no zone: UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _operate(op: str, path: str, rows: list[dict[str, Any]]) -> Any:
    if op == "count":
        return len(rows)
    values = [lookup(row, path) for row in rows]
    present = [v for v in values if v is not MISSING]
    if op in ("sum", "average"):
        numbers = [n for v in present if (n := read_number(v)) is not None]
        if op == "sum":
            return sum(numbers)
        return sum(numbers) / len(numbers) if numbers else None
    if op in ("max", "min"):
        known = [v for v in present if v is not None]
        pick = max if op == "max" else min
        return pick(known, key=order_key) if known else None
    if op in ("first", "last"):
        value = values[0 if op == "first" else -1]
        return None if value is MISSING else value
    if op == "push":
        return present
    if op == "add_to_set":
        distinct = {_identity(v): v for v in present}
        return sorted(distinct.values(), key=order_key)
    merged: dict[str, Any] = {}  # merge_objects
    for value in present:
        if isinstance(value, dict):
            merged.update(value)
    return merged


# ---- sort, project, unwind -----------------------------------------------------------------


def sort_rows(rows: list[dict[str, Any]], keys: list[SortKey]) -> list[dict[str, Any]]:
    """Stable sort by several keys; a missing or null value goes last whichever the direction.

    A list sorts by its smallest element ascending and its largest descending (MongoDB's
    `$sort`, and what Elasticsearch does with a field of several values); an empty list
    is no value."""
    for key in reversed(keys):
        values = [_sort_value(lookup(row, key.key), key.desc) for row in rows]
        present = [
            (v, row) for v, row in zip(values, rows, strict=True) if v not in (MISSING, None)
        ]
        absent = [row for v, row in zip(values, rows, strict=True) if v in (MISSING, None)]
        present.sort(key=lambda pair: order_key(pair[0]), reverse=key.desc)
        rows = [row for _, row in present] + absent
    return rows


def _sort_value(value: Any, desc: bool) -> Any:
    if not isinstance(value, list):
        return value
    if not value:
        return MISSING
    return (max if desc else min)(value, key=order_key)


def project_row(
    row: dict[str, Any], project: ProjectStage, keys: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not project.exclude_keys:
        out = {name: row[name] for name in keys if name in row}
    for item in project.fields:
        value = lookup(row, item.key)
        if item.operator == "size":
            value = len(value) if isinstance(value, list) else MISSING
        if value is not MISSING:
            out[item.name] = value
    return out


def unwind_rows(rows: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        for unwound in _unwind(row, path):
            out.append(unwound)
            if len(out) > MAX_ROWS:
                raise too_large("rows", MAX_ROWS)
    return out


def _unwind(row: dict[str, Any], path: str) -> Iterator[dict[str, Any]]:
    value = lookup(row, path)
    if value is MISSING or value is None or value == []:
        return
    for element in value if isinstance(value, list) else [value]:
        yield _replace(row, path, element)


def _replace(row: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    row = dict(row)
    if path in row or "." not in path:
        row[path] = value
        return row
    parts = path.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        if (
            isinstance(row.get(head), dict)
            and lookup(row[head], ".".join(parts[cut:])) is not MISSING
        ):
            row[head] = _replace(row[head], ".".join(parts[cut:]), value)
            return row
    row[path] = value
    return row


def page_result(rows: list[Any], page: Page) -> dict[str, Any]:
    """`{results, total_count?}`: total_count (rows before paging) only when page.limit > 0."""
    if not page.limit:
        return {"results": rows}
    start = page.start - 1
    return {"results": rows[start : start + page.limit], "total_count": len(rows)}
