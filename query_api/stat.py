"""Event stat (SPEC §6) planned as exact Elasticsearch requests, and the rows finished in Python.

Pure: no I/O here (`stat_search.run_stat` does the requests). Results are exact,
never top-N approximations: a group stage is a composite aggregation paged to
completion, or, when an operator needs every document (`push`,
`merge_objects`), a scan of the matching documents grouped here. Whatever the
path, the same rows come out.

What a group stage sees of a field, so that both paths and the list filters agree:
- Keys, `max`, `min`, `add_to_set`, `sum` and `average` read a field's *indexed*
  values: a keyword or text field as its string (text up to 8191 characters),
  a date as its instant (`2024-05-01T00:00:00.000Z`), a leaf of
  `additional_info`/`raw_data` as a string (numbers as written, booleans
  `true`/`false`); a list gives each distinct element. An event with several
  values of a key is in one group per value; one without a value is in the
  `null` group. Whole objects (`resource`, `additional_info`, ...) cannot be
  grouped or compared: ERROR_INVALID_ARGUMENT.
- `sum`/`average` add the values that read as numbers (`"5"`, `"1.5"`) and skip
  the rest; `sum` is an int when every value is, 0 when none; `average` is a
  float, `null` when none. `max`/`min` compare strings (dates by instant).
- `first`, `last`, `push`, `merge_objects` read the field as stored in the
  event (dates formatted as above), in `created_at` order, ties by event_id;
  `push` skips events without the field; `merge_objects` merges the objects,
  later events winning.
- date_format `year`/`month`/`day` or any strftime pattern, in UTC; a pattern
  is bucketed at the finest calendar interval it shows, then buckets that
  format alike are merged here.

Stages: the first stage is `group` (one only) or `count` (counts the matching
events); anything else first is ERROR_INVALID_ARGUMENT. Later stages run here,
in order: count, sort (missing values last both ways, stable), project,
unwind (a list becomes one row per element; missing, null or empty drops the
row, as MongoDB does), limit, skip. `count` always yields one row, `{name: 0}`
for no rows.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from schemas.event import format_timestamp
from schemas.index import FieldKind, field_kind
from schemas.query import (
    Group,
    GroupField,
    GroupKey,
    Page,
    QueryError,
    SortKey,
    Stage,
    StatisticsQuery,
)

# Caps past which a stat is refused (ERROR_STAT_TOO_LARGE) rather than answered in part.
MAX_GROUPS = 100_000  # composite buckets read for one group stage or distinct
MAX_SCAN_DOCUMENTS = 200_000  # events read when a group stage needs every event
MAX_SET_VALUES = 10_000  # distinct values of a field within one group (add_to_set, sum, average)
COMPOSITE_PAGE_SIZE = 500
SCAN_PAGE_SIZE = 1_000
# The event order of first/last/push/merge_objects; matches the scan's sort.
EVENT_ORDER: list[dict[str, str]] = [{"created_at": "asc"}, {"event_id": "asc"}]

TOO_LARGE = "ERROR_STAT_TOO_LARGE"
INVALID = "ERROR_INVALID_ARGUMENT"

Granularity = Literal["year", "month", "day", "hour", "minute", "second", "instant"]
_NAMED_FORMATS: dict[str, tuple[str, str]] = {  # name -> (Elasticsearch format, strftime)
    "year": ("yyyy", "%Y"),
    "month": ("yyyy-MM", "%Y-%m"),
    "day": ("yyyy-MM-dd", "%Y-%m-%d"),
}
_FINENESS: tuple[Granularity | None, ...] = (
    None, "year", "month", "day", "hour", "minute", "second", "instant",
)  # fmt: skip
_DIRECTIVES: dict[str, Granularity | None] = {
    **dict.fromkeys("YyC", "year"),
    **dict.fromkeys("mbBh", "month"),
    **dict.fromkeys("djaAwuUWVeDFxgG", "day"),  # G, g: the ISO year depends on the day
    **dict.fromkeys("HIpPkl", "hour"),
    **dict.fromkeys("MR", "minute"),
    **dict.fromkeys("SXcTr", "second"),  # not %s: glibc reads it in local time
    "f": "instant",
    **dict.fromkeys("zZ%nt", None),
}
_DIRECTIVE = re.compile(r"%[-_0^#]?[EO]?(.)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_MISSING: Any = object()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SortValue = tuple[int, str]  # (created_at epoch millis, event_id)


# ---- plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPlan:
    """One group key (or the distinct field): which indexed field, and how its values read."""

    name: str
    path: str
    field: str
    kind: FieldKind
    es_format: str | None = None  # year/month/day: Elasticsearch formats the bucket key
    pattern: str | None = None  # strftime applied here (also the scan's form of es_format)
    granularity: Granularity | None = None

    def source(self, *, missing_bucket: bool = True) -> dict[str, Any]:
        """The composite source: terms on the exact field, or a UTC date_histogram."""
        options: dict[str, Any] = {"field": self.field}
        if missing_bucket:
            options["missing_bucket"] = True
        if self.granularity in (None, "instant"):
            return {"terms": options}
        options |= {"calendar_interval": self.granularity, "time_zone": "UTC"}
        if self.es_format:
            options["format"] = self.es_format
        return {"date_histogram": options}

    def bucket_value(self, raw: Any) -> Any:
        """A composite bucket's key as it appears in a row."""
        if raw is None or self.es_format:
            return raw
        return self.indexed_value(raw)

    def indexed_value(self, raw: Any) -> Any:
        """A doc value (as Elasticsearch returns it) as it appears in a row."""
        if self.kind != "date":
            return raw
        instant = from_millis(raw)
        return instant.strftime(self.pattern) if self.pattern else format_timestamp(instant)


@dataclass(frozen=True)
class FieldPlan:
    """One group field: `operator` over `path` (its exact `field` for indexed values)."""

    name: str
    operator: str
    path: str = ""
    field: str = ""
    kind: FieldKind | None = None

    @property
    def reads_source(self) -> bool:
        return self.operator in ("first", "last", "push", "merge_objects")

    @property
    def reads_values(self) -> bool:
        return self.operator in ("max", "min", "add_to_set", "sum", "average")


@dataclass(frozen=True)
class GroupPlan:
    keys: tuple[KeyPlan, ...]
    fields: tuple[FieldPlan, ...]
    # push/merge_objects need every event: scan the matching events instead of aggregating.
    scan: bool


@dataclass(frozen=True)
class StatPlan:
    """What to ask Elasticsearch (`mode`) and the stages to run here after it."""

    mode: Literal["group", "count", "distinct"]
    group: GroupPlan | None = None
    distinct: KeyPlan | None = None
    count_name: str = ""
    stages: tuple[Stage, ...] = ()
    page: Page = field(default_factory=Page)


def plan_stat(query: StatisticsQuery) -> StatPlan:
    """Check a StatisticsQuery and decide how to answer it; errors come before any I/O."""
    if query.distinct and query.aggregate:
        raise QueryError(INVALID, "give either `aggregate` or `distinct`, not both")
    if query.distinct:
        key = _key_plan(GroupKey(key=query.distinct, name="value"))
        return StatPlan(mode="distinct", distinct=key, page=query.page)
    first, *rest = query.aggregate
    if any(stage.group is not None for stage in rest):
        raise QueryError(INVALID, "only one `group` stage is allowed, and it comes first")
    stages = tuple(rest)
    if first.group is not None:
        return StatPlan(mode="group", group=plan_group(first.group), stages=stages,
                        page=query.page)  # fmt: skip
    if first.count is not None:
        return StatPlan(mode="count", count_name=first.count.name, stages=stages,
                        page=query.page)  # fmt: skip
    raise QueryError(INVALID, "the first aggregate stage must be `group` or `count`")


def plan_group(group: Group) -> GroupPlan:
    keys = tuple(_key_plan(key) for key in group.keys)
    fields = tuple(_field_plan(item) for item in group.fields)
    names = [key.name for key in keys] + [item.name for item in fields]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise QueryError(INVALID, f"group names must be unique: {', '.join(duplicates)}")
    scan = any(item.operator in ("push", "merge_objects") for item in fields)
    return GroupPlan(keys=keys, fields=fields, scan=scan)


def _resolve(path: str, role: str) -> tuple[FieldKind, str]:
    resolved = field_kind(path)
    if resolved is None:
        raise QueryError(INVALID, f"{role}: unknown field {path!r}")
    return resolved


def _is_object(kind: FieldKind, path: str) -> bool:
    return kind == "object" or (kind == "flattened" and "." not in path)


def _key_plan(key: GroupKey) -> KeyPlan:
    kind, exact = _resolve(key.key, f"group key {key.name!r}")
    if _is_object(kind, key.key):
        raise QueryError(INVALID, f"{key.key!r} is an object; group by one of its fields")
    if key.date_format is None:
        return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind)
    if kind != "date":
        raise QueryError(INVALID, f"date_format needs a date field; {key.key!r} is {kind}")
    es_format, pattern = _NAMED_FORMATS.get(key.date_format, (None, key.date_format))
    granularity = pattern_granularity(pattern)
    return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind, es_format=es_format,
                   pattern=pattern, granularity=granularity)  # fmt: skip


def pattern_granularity(pattern: str) -> Granularity:
    """The coarsest bucket that keeps every instant of a bucket formatting alike."""
    finest = 0
    for directive in _DIRECTIVE.findall(pattern):
        if directive not in _DIRECTIVES:
            raise QueryError(INVALID, f"date_format {pattern!r}: unknown directive %{directive}")
        finest = max(finest, _FINENESS.index(_DIRECTIVES[directive]))
    return _FINENESS[finest] or "year"


def _field_plan(item: GroupField) -> FieldPlan:
    if item.operator == "count":
        return FieldPlan(name=item.name, operator="count")
    path = item.key or ""
    kind, exact = _resolve(path, f"group field {item.name!r}")
    plan = FieldPlan(name=item.name, operator=item.operator, path=path, field=exact, kind=kind)
    if plan.reads_values and _is_object(kind, path):
        raise QueryError(INVALID, f"{item.operator}: {path!r} is an object; use one of its fields")
    return plan


def _strip_dollar(path: str) -> str:
    return path[1:] if path.startswith("$") else path


# ---- composite aggregation ------------------------------------------------------------------


def composite_aggregations(
    plan: GroupPlan, *, after: dict[str, Any] | None = None, size: int = COMPOSITE_PAGE_SIZE
) -> dict[str, Any]:
    """The `aggs` of one page of a group stage (no keys: one bucket of every event)."""
    sub = {f"f{i}": agg for i, item in enumerate(plan.fields) if (agg := _field_agg(item))}
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


def _field_agg(item: FieldPlan) -> dict[str, Any] | None:
    op = item.operator
    if op == "count" or (op in ("sum", "average") and item.kind == "date"):
        return None  # doc_count; a date is never a number
    if op in ("first", "last"):
        order = "asc" if op == "first" else "desc"
        return {"top_hits": {"size": 1, "_source": {"includes": [item.path]},
                             "sort": [{"created_at": order}, {"event_id": order}]}}  # fmt: skip
    if op in ("max", "min") and item.kind == "date":
        return {op: {"field": item.field}}
    if op in ("max", "min"):
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


def _terms_buckets(item: FieldPlan, agg: dict[str, Any], *, exact: bool) -> list[dict[str, Any]]:
    if exact and (agg.get("sum_other_doc_count") or agg.get("doc_count_error_upper_bound")):
        raise QueryError(TOO_LARGE, f"{item.operator} of {item.path!r}: a group has more than "
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
        return None if agg.get("value") is None else _from_millis(agg["value"])
    if op in ("max", "min"):
        terms = _terms_buckets(item, agg, exact=False)
        return _term_value(item, terms[0]) if terms else None
    if op == "add_to_set":
        return {_term_value(item, term) for term in _terms_buckets(item, agg, exact=True)}
    hit = agg["hits"]["hits"][0]  # first/last: a bucket has at least one event
    value = stored_value(hit.get("_source", {}), item.path, item.kind)
    return (_sort_value(hit), None if value is _MISSING else value)


def _term_value(item: FieldPlan, term: dict[str, Any]) -> Any:
    return _from_millis(term["key"]) if item.kind == "date" else term["key"]


def from_millis(millis: float | int | str) -> datetime:
    """An epoch-millis value as Elasticsearch returns it (number or text), exactly."""
    return EPOCH + timedelta(milliseconds=int(float(millis)))


def _from_millis(millis: float | int | str) -> str:
    return format_timestamp(from_millis(millis))


def _sort_value(hit: dict[str, Any]) -> SortValue:
    created, event_id = hit["sort"][:2]
    return (int(created), str(event_id))


# ---- scan ----------------------------------------------------------------------------------


def scan_request(plan: GroupPlan) -> dict[str, Any]:
    """Search options of a scan: the stored fields first/last/push/merge_objects read,
    doc values of keys and compared fields, in event order."""
    sources = sorted({item.path for item in plan.fields if item.reads_source})
    indexed = {key.field: key.kind for key in plan.keys}
    indexed |= {item.field: item.kind for item in plan.fields if item.reads_values}
    docvalues = [
        {"field": name, "format": "epoch_millis"} if kind == "date" else {"field": name}
        for name, kind in sorted(indexed.items())
    ]
    return {
        "_source": {"includes": sources} if sources else False,
        "docvalue_fields": docvalues,
        "sort": EVENT_ORDER,
    }


def groups_from_hits(
    plan: GroupPlan, hits: Iterable[dict[str, Any]]
) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """(row keys, field states) of each event, once per combination of its key values."""
    for hit in hits:
        values = hit.get("fields", {})
        states = [_hit_state(item, hit, values) for item in plan.fields]
        key_values = [sorted({key.indexed_value(v) for v in values.get(key.field, [])})
                      or [None] for key in plan.keys]  # fmt: skip
        for key in itertools.product(*key_values):
            yield key, states


def _hit_state(item: FieldPlan, hit: dict[str, Any], doc_values: dict[str, list[Any]]) -> Any:
    op = item.operator
    if op == "count":
        return 1
    if item.reads_values:
        raw = doc_values.get(item.field, [])
        values = {_from_millis(v) for v in raw} if item.kind == "date" else set(raw)
        if op in ("sum", "average"):
            numbers = [] if item.kind == "date" else [read_number(v) for v in values]
            present = [n for n in numbers if n is not None]
            return (sum(present), len(present))
        if op == "add_to_set":
            return values
        return (max if op == "max" else min)(values) if values else None
    value = stored_value(hit.get("_source", {}), item.path, item.kind)
    order = _sort_value(hit)
    if op in ("first", "last"):
        return (order, None if value is _MISSING else value)
    if op == "merge_objects":
        return [(order, value)] if isinstance(value, dict) else []
    return [] if value is _MISSING else [(order, value)]  # push


# ---- group table ---------------------------------------------------------------------------


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
        return pick(a, b, key=(lambda s: s[0]) if op in ("first", "last") else None)
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


# ---- distinct ------------------------------------------------------------------------------


def distinct_aggregations(
    plan: KeyPlan, *, after: dict[str, Any] | None = None, size: int = 1_000
) -> dict[str, Any]:
    source = plan.source(missing_bucket=False)
    composite: dict[str, Any] = {"size": size, "sources": [{"v": source}]}
    if after is not None:
        composite["after"] = after
    return {"values": {"composite": composite}}


def distinct_from_aggregations(
    plan: KeyPlan, aggregations: dict[str, Any]
) -> tuple[list[Any], dict[str, Any] | None]:
    buckets = aggregations["values"]["buckets"]
    values = [plan.bucket_value(bucket["key"]["v"]) for bucket in buckets]
    return values, (aggregations["values"].get("after_key") if buckets else None)


# ---- values --------------------------------------------------------------------------------


def read_number(value: Any) -> int | float | None:
    """An indexed value as a number, or None: `"5"` -> 5, `"1.5"` -> 1.5, `"cpu"` -> None."""
    text = str(value)
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def stored_value(source: dict[str, Any], path: str, kind: FieldKind | None) -> Any:
    """A field as stored in an event (`_MISSING` if absent); dates formatted as in EventInfo."""
    value = lookup(source, path)
    if kind == "date" and value is not _MISSING and value is not None:
        return _format_stored_date(value)
    return value


def _format_stored_date(value: Any) -> Any:
    if isinstance(value, list):
        return [_format_stored_date(v) for v in value]
    if isinstance(value, int | float):
        return _from_millis(value)
    instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return format_timestamp(instant if instant.tzinfo else instant.replace(tzinfo=UTC))


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (`_MISSING` if absent); a literal dotted key wins, and a
    list on the way yields the values of its elements."""
    if isinstance(obj, list):
        found = [v for item in obj if (v := lookup(item, path)) is not _MISSING]
        return found if found else _MISSING
    if not isinstance(obj, dict):
        return _MISSING
    if path in obj:
        return obj[path]
    parts = path.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        if head in obj:
            found = lookup(obj[head], ".".join(parts[cut:]))
            if found is not _MISSING:
                return found
    return _MISSING


# ---- later stages --------------------------------------------------------------------------


def apply_stages(rows: list[dict[str, Any]], stages: Iterable[Stage]) -> list[dict[str, Any]]:
    """Run the stages after the first, in order, on rows."""
    for stage in stages:
        if stage.count is not None:
            rows = [{stage.count.name: len(rows)}]
        elif stage.sort is not None:
            rows = sort_rows(rows, stage.sort)
        elif stage.project is not None:
            rows = [_project(row, stage.project.fields, stage.project.exclude_keys) for row in rows]
        elif stage.unwind is not None:
            rows = list(_unwind(rows, _strip_dollar(stage.unwind.path)))
        elif stage.limit is not None:
            rows = rows[: stage.limit]
        elif stage.skip is not None:
            rows = rows[stage.skip :]
    return rows


def sort_rows(rows: list[dict[str, Any]], keys: list[SortKey]) -> list[dict[str, Any]]:
    """Stable sort by several keys; a missing or null value goes last whichever the direction."""
    for key in reversed(keys):
        present = [row for row in rows if lookup(row, key.key) not in (_MISSING, None)]
        absent = [row for row in rows if lookup(row, key.key) in (_MISSING, None)]
        present.sort(key=lambda row: order_key(lookup(row, key.key)), reverse=key.desc)
        rows = present + absent
    return rows


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


def _project(row: dict[str, Any], fields: list[Any], exclude: list[str]) -> dict[str, Any]:
    if fields:
        picked = {item.name: lookup(row, item.key) for item in fields}
        row = {name: value for name, value in picked.items() if value is not _MISSING}
    else:
        row = dict(row)
    for path in exclude:
        _delete(row, path)
    return row


def _delete(row: dict[str, Any], path: str) -> None:
    if path in row:
        del row[path]
        return
    head, _, rest = path.partition(".")
    if rest and isinstance(row.get(head), dict):
        row[head] = dict(row[head])
        _delete(row[head], rest)


def _unwind(rows: list[dict[str, Any]], path: str) -> Iterator[dict[str, Any]]:
    for row in rows:
        value = lookup(row, path)
        if value is _MISSING or value is None or value == []:
            continue
        for element in value if isinstance(value, list) else [value]:
            yield _replace(row, path, element)


def _replace(row: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    row = dict(row)
    if path in row or "." not in path:
        row[path] = value
        return row
    head, _, rest = path.partition(".")
    row[head] = _replace(row[head], rest, value)
    return row


def page_result(rows: list[Any], page: Page) -> dict[str, Any]:
    """`{results, total_count?}`: total_count (rows before paging) only when page.limit > 0."""
    if not page.limit:
        return {"results": rows}
    start = page.start - 1
    return {"results": rows[start : start + page.limit], "total_count": len(rows)}


def too_large(what: str, cap: int) -> QueryError:
    return QueryError(TOO_LARGE, f"this stat reads more than {cap:,} {what}; narrow the filter "
                                 "or group by fewer keys")  # fmt: skip
