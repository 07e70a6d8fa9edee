"""A reference event stat (SPEC §6), written from the specification, to check the service.

It shares nothing with the code it checks: it imports nothing from `query_api/` or
`ingest/` (`tests/unit/test_reference_independence.py` holds it to that), only the request
models of `schemas/` and the list reference (`list_eval`, SPEC §5) for filters and for a
sort over events. It is plain and slow on purpose: Python lists of dicts, every stage a
loop, nothing planned.

What SPEC §6 says, and how each rule is read here:
- Stages run in order, as a MongoDB aggregation pipeline runs them, the first over the
  matching events. Without a sort the events come in created_at order, then event_id;
  `skip`/`limit` take them in that order; a `sort` over events orders as list does (§5:
  missing last in both directions, ties by event_id), and the order it leaves is the order
  a following group sees (MongoDB's `$first` is the first document the group receives).
- `group`: one row per combination of key values, the keys flattened into the row, a
  missing key `null`; rows ordered by their keys (null last); no rows in, no row out,
  even without keys. `count`: `{name: n}`, no row over nothing.
- Operators: count (an int), sum, average (a float, null when nothing to average), max,
  min, first and last (in the order the group receives its events or rows), push (every
  present value, in that order), add_to_set (distinct values, sorted), merge_objects (the
  objects merged in order, later ones winning).
- date_format: `year`, `month`, `day` (`2024`, `2024-05`, `2024-05-01`) or a strftime
  pattern, in UTC (or the key's `time_zone`).
- `project`: the current group keys (unless `exclude_keys`) plus each `name` = the value at
  `key` (`size`: the length of a list); a missing value is left out. `unwind`: one row per
  element. `skip`, `limit`: as their names say. `distinct`: the sorted distinct values.
  total_count (rows before paging) only when page.limit > 0.

Where SPEC §6 is silent about what a field of an event *is*, these readings are taken
(the event model of §3 as it is indexed and searched by list, so that stat and list agree):
- E1. Group keys, max, min, add_to_set, sum, average and distinct read the values a field
  is indexed with: keyword strings (text fields up to 8191 characters), dates as instants
  in EventInfo form (`2024-05-01T00:00:00.000Z`), the leaves of additional_info/raw_data
  as text (numbers and booleans as written in JSON). A list gives each of its distinct
  elements; an event with several values of a key is in one group per value, an event
  with none in the `null` group. Each event counts each of its distinct values once.
- E2. A value *reads as a number* when it is a JSON number (not a boolean) or text that is
  a plain decimal number (`"5"`, `"-1.5"`, `"2e3"`); sum and average add those and skip
  the rest: sum is 0 over none, an int when every value added is one.
- E3. max and min over events order numbers before text (MongoDB's order of types),
  numbers by value and text by code point: a value that reads as a number is a number;
  the value is returned as read (E1). add_to_set over events sorts text by code point.
- E4. first, last, push and merge_objects read the field as the event stores it (dates in
  EventInfo form); push skips events without the field.
- R1. Once rows are not events (after a group, count, project or unwind; events become
  rows of their stored fields, dates in EventInfo form), values keep their JSON types. A
  group key is the value as it is (a list is one key; 1 and 1.0 are one key); a
  date_format formats a value that is ISO-8601 text, anything else gives null. sum and
  average read numbers as E2. max, min, add_to_set and sort order values by MongoDB's
  order of types, numbers < strings < objects < arrays < booleans, arrays element by
  element and objects by their canonical JSON; max/min ignore null.
- R2. A sort over rows is stable; a missing or null value goes last in both directions. A
  list sorts by its smallest element ascending, its largest descending (MongoDB's `$sort`,
  and list's sort of a field with several values, §5); an empty list is no value.
- R3. A dotted path reaches into objects, a literal dotted name (a projected
  `resource.name`) first; through a list it gives the values of its elements. unwind
  drops a missing, null or empty list and keeps a scalar as it is.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas.query import Group, GroupField, GroupKey, SortKey, Stage, StatisticsQuery
from tests.reference.list_eval import matches_query, sort_docs

DATE_FIELDS = ["created_at", "occurred_at"]
TEXT_FIELDS = ["title", "description"]
TEXT_LIMIT = 8191
OBJECT_FIELDS = ["additional_info", "raw_data"]  # indexed as text leaves
NAMED_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}
NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
WHOLE_TEXT = re.compile(r"[+-]?[0-9]+")


class Missing:
    """No value at all (not even null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = Missing()


# ---- reading values ------------------------------------------------------------------------


def parse_instant(value: Any) -> datetime:
    """A stored date (ISO-8601 text, UTC when no zone, or epoch millis) as a UTC datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def eventinfo_time(moment: datetime) -> str:
    """EventInfo's form: milliseconds and `Z`."""
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "." + str(millis).zfill(3) + "Z"


def as_number(value: Any) -> int | float | None:
    """E2: the number a value reads as, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return value
    if not isinstance(value, str):
        return None
    if WHOLE_TEXT.fullmatch(value):
        return int(value)
    if NUMBER_TEXT.fullmatch(value):
        number = float(value)
        if number in (float("inf"), float("-inf")):
            return None
        return number
    return None


def stored(event: dict, path: str) -> Any:
    """E4: the field as the event stores it (MISSING if absent), dates in EventInfo form."""
    value: Any = event
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    if path in DATE_FIELDS and value is not None:
        if isinstance(value, list):
            return [eventinfo_time(parse_instant(v)) for v in value]
        return eventinfo_time(parse_instant(value))
    return value


def everything_at(value: Any, parts: list[str]) -> list[Any]:
    """Every value at a dotted path, going through lists as the index does."""
    if not parts:
        return [value]
    if isinstance(value, list):
        found = []
        for item in value:
            found.extend(everything_at(item, parts))
        return found
    if isinstance(value, dict) and parts[0] in value:
        return everything_at(value[parts[0]], parts[1:])
    return []


def scalar_leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        leaves = []
        for item in value:
            leaves.extend(scalar_leaves(item))
        return leaves
    if value is None or isinstance(value, dict):
        return []
    return [value]


def indexed(event: dict, path: str) -> list[str]:
    """E1: the distinct values `path` is indexed with in `event`, sorted by code point."""
    leaves = []
    for found in everything_at(event, path.split(".")):
        leaves.extend(scalar_leaves(found))
    texts = set()
    for leaf in leaves:
        if path in DATE_FIELDS:
            texts.add(eventinfo_time(parse_instant(leaf)))
        elif isinstance(leaf, str):
            texts.add(leaf)
        else:
            texts.add(json.dumps(leaf))  # 5 -> "5", true -> "true"
    if path in TEXT_FIELDS or path.split(".")[0] in OBJECT_FIELDS:
        texts = {text for text in texts if len(text) <= TEXT_LIMIT}
    return sorted(texts)


def format_date(text: str, key: GroupKey) -> str:
    pattern = NAMED_FORMATS.get(key.date_format or "", key.date_format or "")
    moment = parse_instant(text)
    if key.time_zone:
        moment = moment.astimezone(ZoneInfo(key.time_zone))
    return moment.strftime(pattern)


def event_value_order(text: str) -> tuple:
    """E3: numbers first, by value (then as written); then text by code point."""
    number = as_number(text)
    if number is not None:
        return (0, number, text)
    return (1, 0, text)


# ---- a group over events -------------------------------------------------------------------


def key_values(event: dict, key: GroupKey) -> list[str | None]:
    values = indexed(event, key.key)
    if key.date_format:
        values = sorted({format_date(v, key) for v in values})
    if not values:
        return [None]
    return values


def combinations(choices: list[list[Any]]) -> list[tuple]:
    """Every way to pick one value of each list (one empty tuple for no lists)."""
    out: list[tuple] = [()]
    for options in choices:
        out = [(*done, option) for done in out for option in options]
    return out


def event_field(field: GroupField, events: list[dict]) -> Any:
    """One group field over the events of a group, in the order the group received them."""
    op = field.operator
    path = field.key or ""
    if op == "count":
        return len(events)
    if op in ("sum", "average"):
        numbers = []
        for event in events:
            for text in indexed(event, path):
                if path in DATE_FIELDS:
                    continue  # an instant is not a number
                number = as_number(text)
                if number is not None:
                    numbers.append(number)
        if op == "sum":
            return sum(numbers)
        if not numbers:
            return None
        return sum(numbers) / len(numbers)
    if op in ("max", "min", "add_to_set"):
        every = set()
        for event in events:
            every.update(indexed(event, path))
        if op == "add_to_set":
            return sorted(every)
        if not every:
            return None
        ordered = sorted(every, key=event_value_order)
        return ordered[-1] if op == "max" else ordered[0]
    if op == "first" or op == "last":
        value = stored(events[0] if op == "first" else events[-1], path)
        return None if value is MISSING else value
    present = [stored(event, path) for event in events]
    present = [value for value in present if value is not MISSING]
    if op == "push":
        return present
    merged: dict = {}
    for value in present:  # merge_objects
        if isinstance(value, dict):
            merged.update(value)
    return merged


def sort_by_text_keys(rows: list[dict], names: list[str]) -> list[dict]:
    """Rows of a group over events, by their keys (text by code point), null last."""
    for name in reversed(names):
        present = [row for row in rows if row[name] is not None]
        absent = [row for row in rows if row[name] is None]
        present.sort(key=lambda row: row[name])
        rows = present + absent
    return rows


def group_events(events: list[dict], group: Group) -> list[dict]:
    members: dict[tuple, list[dict]] = {}
    for event in events:
        for combo in combinations([key_values(event, key) for key in group.keys]):
            members.setdefault(combo, []).append(event)
    rows = [one_row(group, list(combo), grouped, event_field) for combo, grouped in members.items()]
    return sort_by_text_keys(rows, [key.name for key in group.keys])


def one_row(group: Group, values: list[Any], members: list[dict], compute: Any) -> dict:
    """The row of one group: its key values, then each field computed over its members."""
    row: dict[str, Any] = {}
    for key, value in zip(group.keys, values, strict=True):
        row[key.name] = value
    for field in group.fields:
        row[field.name] = compute(field, members)
    return row


def event_as_row(event: dict) -> dict:
    row = dict(event)
    for name in DATE_FIELDS:
        if row.get(name) is not None:
            row[name] = stored(event, name)
    return row


# ---- rows (R1-R3) --------------------------------------------------------------------------


def at(row: Any, path: str) -> Any:
    """R3: the value at a dotted path in a row, or MISSING."""
    if isinstance(row, list):
        values = []
        for item in row:
            value = at(item, path)
            if value is not MISSING:
                values.append(value)
        return values or MISSING
    if not isinstance(row, dict):
        return MISSING
    if path in row:
        return row[path]
    # A key that is a leading part of the path, shortest first, and the rest within it.
    heads = sorted((k for k in row if isinstance(k, str) and path.startswith(k + ".")), key=len)
    for head in heads:
        value = at(row[head], path[len(head) + 1 :])
        if value is not MISSING:
            return value
    return MISSING


TYPE_RANK = {"number": 0, "string": 1, "object": 2, "array": 3, "boolean": 4, "null": 5}


def json_type(value: Any) -> str:
    if value is None:
        return "null"  # only inside a list: a null on its own is never compared
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    raise TypeError(f"not a JSON value here: {value!r}")


def mongo_order(value: Any) -> tuple:
    """R1: MongoDB's order of JSON types, then within the type."""
    kind = json_type(value)
    if kind == "array":
        return (TYPE_RANK[kind], tuple(mongo_order(item) for item in value))
    if kind == "object":
        return (TYPE_RANK[kind], json.dumps(value, sort_keys=True))
    if kind == "null":
        return (TYPE_RANK[kind], 0)
    return (TYPE_RANK[kind], value)


def same_key(value: Any) -> str:
    """Equal JSON values, one identity (1 and 1.0 alike)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True)


def sort_value(value: Any, desc: bool) -> Any:
    """R2: what a row is sorted by: a list by its smallest element ascending and its
    largest descending (MongoDB's sort, and list's over events, §5); an empty list or null
    is no value."""
    if isinstance(value, list):
        if not value:
            return MISSING
        ranked = sorted(value, key=mongo_order)
        return ranked[-1] if desc else ranked[0]
    return value


def sort_rows(rows: list[dict], keys: list[SortKey]) -> list[dict]:
    """R2: stable, by each key in turn; missing or null last in both directions."""
    for key in reversed(keys):
        present = []
        absent = []
        for row in rows:
            value = sort_value(at(row, key.key), key.desc)
            if value is MISSING or value is None:
                absent.append(row)
            else:
                present.append((mongo_order(value), row))
        present.sort(key=lambda pair: pair[0], reverse=key.desc)
        rows = [row for _, row in present] + absent
    return rows


def row_key(row: dict, key: GroupKey) -> Any:
    value = at(row, key.key)
    if value is MISSING or value is None:
        return None
    if not key.date_format:
        return value
    if not isinstance(value, str):
        return None
    try:
        return format_date(value, key)
    except ValueError:
        return None


def row_field(field: GroupField, rows: list[dict]) -> Any:
    op = field.operator
    if op == "count":
        return len(rows)
    values = [at(row, field.key or "") for row in rows]
    present = [value for value in values if value is not MISSING]
    if op in ("sum", "average"):
        numbers = [as_number(v) for v in present]
        numbers = [n for n in numbers if n is not None]
        if op == "sum":
            return sum(numbers)
        if not numbers:
            return None
        return sum(numbers) / len(numbers)
    if op in ("max", "min"):
        known = sorted((v for v in present if v is not None), key=mongo_order)
        if not known:
            return None
        return known[-1] if op == "max" else known[0]
    if op in ("first", "last"):
        value = values[0] if op == "first" else values[-1]
        return None if value is MISSING else value
    if op == "push":
        return present
    if op == "add_to_set":
        distinct: dict[str, Any] = {}
        for value in present:
            distinct.setdefault(same_key(value), value)
        return sorted(distinct.values(), key=mongo_order)
    merged: dict = {}
    for value in present:  # merge_objects
        if isinstance(value, dict):
            merged.update(value)
    return merged


def group_rows(rows: list[dict], group: Group) -> list[dict]:
    members: dict[tuple, tuple[list, list[dict]]] = {}
    for row in rows:
        values = [row_key(row, key) for key in group.keys]
        identity = tuple(same_key(v) for v in values)
        if identity not in members:
            members[identity] = (values, [])
        members[identity][1].append(row)
    out = [one_row(group, values, grouped, row_field) for values, grouped in members.values()]
    return sort_rows(out, [SortKey(key=key.name) for key in group.keys])


def replaced(row: dict, path: str, value: Any) -> dict:
    """A copy of `row` with the value at `path` replaced (R3's reading of the path)."""
    copy = dict(row)
    if path not in copy:
        heads = [k for k in copy if path.startswith(k + ".") and isinstance(copy[k], dict)]
        for head in sorted(heads, key=len):
            if at(copy[head], path[len(head) + 1 :]) is not MISSING:
                copy[head] = replaced(copy[head], path[len(head) + 1 :], value)
                return copy
    copy[path] = value
    return copy


def unwind(rows: list[dict], path: str) -> list[dict]:
    out = []
    for row in rows:
        value = at(row, path)
        if value is MISSING or value is None or value == []:
            continue
        elements = value if isinstance(value, list) else [value]
        for element in elements:
            out.append(replaced(row, path, element))
    return out


def project(rows: list[dict], stage: Any, keys: list[str]) -> list[dict]:
    out = []
    for row in rows:
        kept = [] if stage.exclude_keys else [(name, row.get(name, MISSING)) for name in keys]
        for field in stage.fields:
            found = at(row, field.key)
            if field.operator == "size":
                found = len(found) if isinstance(found, list) else MISSING
            kept.append((field.name, found))
        out.append({name: value for name, value in kept if value is not MISSING})
    return out


# ---- the pipeline --------------------------------------------------------------------------


def events_in_own_order(events: list[dict]) -> list[dict]:
    """SPEC §6: created_at, then event_id."""
    return sorted(events, key=lambda e: (parse_instant(e["created_at"]), e["event_id"]))


def run_pipeline(events: list[dict], stages: list[Stage]) -> list[dict]:
    """The stages, in order, over the matching events."""
    docs: list[dict] | None = events_in_own_order(events)  # None once they are rows
    rows: list[dict] = []
    keys: list[str] = []  # the current group keys (what project keeps)
    for stage in stages:
        if docs is not None:
            if stage.sort is not None:
                docs = sort_docs(docs, stage.sort)
                continue
            if stage.skip is not None:
                docs = docs[stage.skip :]
                continue
            if stage.limit is not None:
                docs = docs[: stage.limit]
                continue
            if stage.group is not None:
                rows = group_events(docs, stage.group)
                keys = [key.name for key in stage.group.keys]
                docs = None
                continue
            if stage.count is not None:
                rows = [{stage.count.name: len(docs)}] if docs else []
                keys = []
                docs = None
                continue
            rows = [event_as_row(doc) for doc in docs]
            docs = None
        if stage.group is not None:
            rows = group_rows(rows, stage.group)
            keys = [key.name for key in stage.group.keys]
        elif stage.count is not None:
            rows = [{stage.count.name: len(rows)}] if rows else []
            keys = []
        elif stage.sort is not None:
            rows = sort_rows(rows, stage.sort)
        elif stage.skip is not None:
            rows = rows[stage.skip :]
        elif stage.limit is not None:
            rows = rows[: stage.limit]
        elif stage.unwind is not None:
            rows = unwind(rows, stage.unwind.path.removeprefix("$"))
        elif stage.project is not None:
            rows = project(rows, stage.project, keys)
            if stage.project.exclude_keys:
                keys = []
    if docs is not None:
        return [event_as_row(doc) for doc in docs]
    return rows


def evaluate_stat(
    docs: list[dict], query: StatisticsQuery, domain_id: str | None, now: datetime
) -> dict[str, Any]:
    """`{results, total_count?}` of an event stat over the raw event documents `docs`."""
    events = []
    for doc in docs:
        if domain_id is not None and doc.get("domain_id") != domain_id:
            continue
        if matches_query(doc, query.filter, query.filter_or, query.keyword, now):
            events.append(doc)
    if query.distinct:
        values: set[str] = set()
        for event in events:
            values.update(indexed(event, query.distinct))
        rows: list[Any] = sorted(values)
    else:
        rows = run_pipeline(events, query.aggregate)
    if not query.page.limit:
        return {"results": rows}
    start = query.page.start - 1
    return {"results": rows[start : start + query.page.limit], "total_count": len(rows)}
