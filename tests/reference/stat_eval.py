"""A small pure-Python reading of SPEC §6 (event stat), to check the stat service against.

Written from the spec over raw event documents, sharing no code with the service (not
`query_api.query.stat`, not its row stages: the order of values and what reads as a
number are read here from SPEC §6 and MongoDB's documented comparison order); filters
come from `list_eval.matches_query`. It evaluates valid queries only. Where the spec
leaves a choice open it follows the rules stated in `query_api/query/stat.py`'s docstring:

- keys, max, min, add_to_set, sum, average see a field's indexed values: keyword
  strings, text up to 8191 characters, dates as `2024-05-01T00:00:00.000Z`, the
  scalar leaves of additional_info/raw_data as text (numbers and booleans as their
  JSON); a list gives each distinct element; an event is in one group per value,
  in the null group without one;
- sum/average add the values that read as numbers; first/last/push/merge_objects
  read the stored field in the order the events reach the group (SPEC §6, MongoDB's
  meaning): a sort stage's order, else the events' own order, created_at then event_id;
- rows come ordered by their keys, missing last; a group or count over nothing gives
  no row.

Stages run in order, any number, any order (SPEC §6). While the rows are still the
matching events (only sort/skip/limit so far), a sort orders them as list does
(`list_eval.sort_docs`: missing last, ties by event_id), skip and limit take them in
their current order (created_at then event_id until a sort) and a group or count reads
them as above. From the first group, count, project or unwind on, rows are JSON
objects (events as their stored fields, dates in EventInfo form) and the stages
follow MongoDB over documents, as `query_api/query/stages.py`'s docstring states:
a group key is the value as it is (a list is one key); sum/average add what reads
as a number; max/min/sort order numbers < strings < objects < lists < booleans,
null/missing last in a sort; first/last/push/merge_objects go in row order;
add_to_set is the sorted distinct values; project keeps the current group keys
unless `exclude_keys`; unwind drops missing, null or empty lists.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from typing import Any

from schemas.query import Group, GroupField, GroupKey, SortKey, Stage, StatisticsQuery
from tests.reference.list_eval import matches_query, sort_docs

DATE_FIELDS = {"created_at", "occurred_at"}
TEXT_FIELDS = {"title", "description"}
FLATTENED_FIELDS = {"additional_info", "raw_data"}
NAMED_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}
ABSENT: Any = object()


def instant(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stored(doc: dict, path: str) -> Any:
    """The field as the event stores it (ABSENT if not there); dates in EventInfo form."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return ABSENT
        value = value[part]
    if path in DATE_FIELDS and value is not None:
        return iso(instant(value))
    return value


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _scalars(item)]
    return [] if value is None or isinstance(value, dict) else [value]


def _at(value: Any, parts: list[str]) -> list[Any]:
    """Everything at a dotted path, walking through lists as flattened objects do."""
    if not parts:
        return [value]
    if isinstance(value, list):
        return [found for item in value for found in _at(item, parts)]
    if isinstance(value, dict) and parts[0] in value:
        return _at(value[parts[0]], parts[1:])
    return []


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def indexed(doc: dict, path: str) -> list[str]:
    """The distinct values Elasticsearch indexes for `path` in `doc`, sorted."""
    values = [v for found in _at(doc, path.split(".")) for v in _scalars(found)]
    if path in DATE_FIELDS:
        return sorted({iso(instant(v)) for v in values})
    texts = {_as_text(v) for v in values}
    if path in TEXT_FIELDS or path.split(".")[0] in FLATTENED_FIELDS:
        texts = {t for t in texts if len(t) <= 8191}
    return sorted(texts)


def number(text: str) -> int | float | None:
    """What "reads as a number" means here (SPEC §6: `"5"`, `"1.5"`): ASCII decimal text,
    optionally signed, with an optional fraction and exponent, that is finite (JSON has
    no infinity); whole numbers written without a point or exponent stay integers."""
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        value = float(text)
        return value if abs(value) != float("inf") else None
    return None


def _key_values(doc: dict, key: GroupKey) -> list[str | None]:
    values = indexed(doc, key.key)
    if key.date_format:
        pattern = NAMED_FORMATS.get(key.date_format, key.date_format)
        values = sorted({instant(v).strftime(pattern) for v in values})
    return list(values) or [None]


def _operate(field: GroupField, events: list[dict]) -> Any:
    op, path = field.operator, field.key or ""
    if op == "count":
        return len(events)
    values = [v for e in events for v in indexed(e, path)]
    if op in ("sum", "average"):
        numbers = [n for v in values if (n := number(v)) is not None]
        if op == "sum":
            return sum(numbers)
        return sum(numbers) / len(numbers) if numbers else None
    if op == "max":
        return max(values, default=None)
    if op == "min":
        return min(values, default=None)
    if op == "add_to_set":
        return sorted(set(values))
    kept = [s for e in events if (s := stored(e, path)) is not ABSENT]
    if op in ("first", "last"):
        value = stored(events[0 if op == "first" else -1], path)
        return None if value is ABSENT else value
    if op == "push":
        return kept
    merged: dict = {}
    for value in kept:  # merge_objects
        if isinstance(value, dict):
            merged.update(value)
    return merged


def event_order(events: list[dict]) -> list[dict]:
    """The events' own order (SPEC §6): created_at, then event_id."""
    return sorted(events, key=lambda e: (instant(e["created_at"]), e["event_id"]))


def group_events(events: list[dict], group: Group) -> list[dict]:
    """A group over events, each group's events in the order they came."""
    groups: dict[tuple, list[dict]] = {}
    for event in events:
        for combo in itertools.product(*(_key_values(event, key) for key in group.keys)):
            groups.setdefault(combo, []).append(event)
    rows = []
    for combo, members in groups.items():
        row: dict[str, Any] = {
            key.name: value for key, value in zip(group.keys, combo, strict=True)
        }
        row |= {field.name: _operate(field, members) for field in group.fields}
        rows.append(row)
    return sorted(rows, key=lambda r: [(r[k.name] is None, r[k.name] or "") for k in group.keys])


def _get(row: Any, path: str) -> Any:
    if isinstance(row, dict) and path in row:
        return row[path]
    parts = path.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        if isinstance(row, dict) and head in row:
            found = _get(row[head], ".".join(parts[cut:]))
            if found is not ABSENT:
                return found
    return ABSENT


# MongoDB's comparison order of the JSON types (its BSON order without the types JSON
# lacks): numbers, then strings, then objects, then arrays, then booleans; null last, as
# a sort puts it (the one place this reading departs from BSON, where null comes first).
TYPE_ORDER = {"number": 0, "string": 1, "object": 2, "array": 3, "boolean": 4, "null": 5}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    raise TypeError(f"not a JSON value: {value!r}")


def rank(value: Any) -> tuple:
    """A sort key following MongoDB's order between types; within a type numbers by value,
    strings by code point, booleans false first, arrays element by element, objects by
    their canonical JSON text."""
    kind = _json_type(value)
    if kind == "array":
        inner: Any = tuple(rank(item) for item in value)
    elif kind == "object":
        inner = json.dumps(value, sort_keys=True)
    else:
        inner = value
    return (TYPE_ORDER[kind], inner)


def sort_rows(rows: list[dict], keys: list[SortKey]) -> list[dict]:
    for key in reversed(keys):
        present = [r for r in rows if _get(r, key.key) not in (ABSENT, None)]
        present.sort(key=lambda r: rank(_get(r, key.key)), reverse=key.desc)
        rows = present + [r for r in rows if _get(r, key.key) in (ABSENT, None)]
    return rows


def _same(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True)


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, int | float):
        return value
    return number(str(value))


def _row_key(row: dict, key: GroupKey) -> Any:
    value = _get(row, key.key)
    if value is ABSENT or value is None:
        return None
    if not key.date_format:
        return value
    try:
        moment = instant(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return None
    return moment.strftime(NAMED_FORMATS.get(key.date_format, key.date_format))


def _row_operate(field: GroupField, rows: list[dict]) -> Any:
    op = field.operator
    if op == "count":
        return len(rows)
    values = [_get(r, field.key or "") for r in rows]
    present = [v for v in values if v is not ABSENT]
    if op in ("sum", "average"):
        numbers = [n for v in present if (n := _as_number(v)) is not None]
        if op == "sum":
            return sum(numbers)
        return sum(numbers) / len(numbers) if numbers else None
    if op in ("max", "min"):
        known = sorted((v for v in present if v is not None), key=rank)
        return (known[-1] if op == "max" else known[0]) if known else None
    if op in ("first", "last"):
        value = values[0] if op == "first" else values[-1]
        return None if value is ABSENT else value
    if op == "push":
        return present
    if op == "add_to_set":
        return sorted({_same(v): v for v in present}.values(), key=rank)
    merged: dict = {}
    for value in present:
        if isinstance(value, dict):
            merged.update(value)
    return merged


def group_rows(rows: list[dict], group: Group) -> list[dict]:
    groups: dict[tuple, tuple[list, list[dict]]] = {}
    for row in rows:
        values = [_row_key(row, key) for key in group.keys]
        groups.setdefault(tuple(_same(v) for v in values), (values, []))[1].append(row)
    out = []
    for values, members in groups.values():
        result = {key.name: value for key, value in zip(group.keys, values, strict=True)}
        result |= {field.name: _row_operate(field, members) for field in group.fields}
        out.append(result)
    return sort_rows(out, [SortKey(key=key.name) for key in group.keys])


def as_row(doc: dict) -> dict:
    """An event as a row: its stored fields, dates in EventInfo form."""
    return {k: (stored(doc, k) if k in DATE_FIELDS else v) for k, v in doc.items()}


def run_row_stage(rows: list[dict], keys: list[str], stage: Stage) -> tuple[list[dict], list[str]]:
    """One stage over rows; returns the rows and their group keys."""
    if stage.group is not None:
        return group_rows(rows, stage.group), [k.name for k in stage.group.keys]
    if stage.count is not None:
        return ([{stage.count.name: len(rows)}] if rows else []), []
    if stage.sort is not None:
        return sort_rows(rows, stage.sort), keys
    if stage.limit is not None:
        return rows[: stage.limit], keys
    if stage.skip is not None:
        return rows[stage.skip :], keys
    if stage.unwind is not None:
        path = stage.unwind.path.removeprefix("$")
        out = []
        for row in rows:
            value = _get(row, path)
            if value is ABSENT or value is None or value == []:
                continue
            for item in value if isinstance(value, list) else [value]:
                out.append(_put(row, path, item))
        return out, keys
    assert stage.project is not None
    project = stage.project
    out = []
    for row in rows:
        new = {} if project.exclude_keys else {k: row[k] for k in keys if k in row}
        for field in project.fields:
            value = _get(row, field.key)
            if field.operator == "size":
                value = len(value) if isinstance(value, list) else ABSENT
            if value is not ABSENT:
                new[field.name] = value
        out.append(new)
    return out, ([] if project.exclude_keys else keys)


def _put(row: dict, path: str, value: Any) -> dict:
    row = dict(row)
    if path in row or "." not in path:
        row[path] = value
        return row
    parts = path.split(".")
    for cut in range(1, len(parts)):
        head, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
        if isinstance(row.get(head), dict) and _get(row[head], rest) is not ABSENT:
            row[head] = _put(row[head], rest, value)
            return row
    row[path] = value
    return row


def run_pipeline(events: list[dict], stages: list[Stage]) -> list[dict]:
    """The pipeline over the matching events."""
    docs: list[dict] | None = event_order(events)
    rows: list[dict] = []
    keys: list[str] = []
    for stage in stages:
        if docs is not None:
            if stage.sort is not None:
                docs = sort_docs(docs, stage.sort)
                continue
            if stage.limit is not None:
                docs = docs[: stage.limit]
                continue
            if stage.skip is not None:
                docs = docs[stage.skip :]
                continue
            if stage.group is not None:
                rows, keys = group_events(docs, stage.group), [k.name for k in stage.group.keys]
                docs = None
                continue
            if stage.count is not None:
                rows, keys, docs = ([{stage.count.name: len(docs)}] if docs else []), [], None
                continue
            rows, docs = [as_row(d) for d in docs], None
        rows, keys = run_row_stage(rows, keys, stage)
    return [as_row(d) for d in docs] if docs is not None else rows


def evaluate_stat(
    docs: list[dict], query: StatisticsQuery, domain_id: str | None, now: datetime
) -> dict[str, Any]:
    """`{results, total_count?}` of an event stat over the raw event documents `docs`."""
    events = [
        d for d in docs
        if (domain_id is None or d.get("domain_id") == domain_id)
        and matches_query(d, query.filter, query.filter_or, query.keyword, now)
    ]  # fmt: skip
    rows: list[Any]
    if query.distinct:
        rows = sorted({v for e in events for v in indexed(e, query.distinct)})
    else:
        rows = run_pipeline(events, query.aggregate)
    if not query.page.limit:
        return {"results": rows}
    start = query.page.start - 1
    return {"results": rows[start : start + query.page.limit], "total_count": len(rows)}
