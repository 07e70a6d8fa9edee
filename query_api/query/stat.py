"""Event stat (SPEC §6) planned as exact Elasticsearch requests, the rest finished in Python.

Pure: no I/O here (`query_api.services.events.run_stat` does the requests). Results are exact,
never top-N approximations. The pipeline runs as MongoDB runs it, any stages in
any order; `plan_stat` gives Elasticsearch the longest prefix it can run exactly:

1. The *window*: an optional leading `sort` (as list sorts: missing last, ties by
   event_id; without one, the events' own order: created_at, then event_id) and the
   `skip`/`limit` stages right after it, folded into one offset and limit over the
   matching events.
2. Then, over the events of the window:
   - `group`: over every match, a composite aggregation paged to completion (or,
     when an operator needs every event, `push`/`merge_objects`, or the order a sort
     gave them, `first`/`last` after a sort, a point-in-time scan of the match); over
     a smaller window, a top-N search (one request up to Elasticsearch's 10,000
     window, a point-in-time scan past it) grouped here;
   - `count`: a count request, cut to the window;
   - anything else (a `sort` after a `limit`, `project`, `unwind`, or nothing):
     the window's events are fetched (point-in-time scan, capped) and the stages
     run here, a sort over events still ordering as Elasticsearch does.
3. Every later stage runs in `query_api.query.stages`, over rows, exactly.
A `group` → `sort` → `limit` pipeline is thus one request per composite page.

What a group over events sees of a field, so that every path and the list
filters agree:
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
  event (dates formatted as above), in the order the events reach the group: a
  leading sort's, else created_at order, ties by event_id (SPEC §6);
  `push` skips events without the field; `merge_objects` merges the objects,
  later events winning.
- date_format `year`/`month`/`day` or any strftime pattern, in UTC or the key's
  `time_zone` (an IANA name: buckets start at that zone's midnights); a pattern
  is bucketed at the finest calendar interval it shows, then buckets that
  format alike are merged here.
A group or count over no events gives no row. Events that reach a `project` or
`unwind` become rows of their stored fields (dates formatted as above), and so
are the results of a pipeline that never groups.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from query_api.query.stages import MISSING as _MISSING
from query_api.query.stages import lookup, read_number, sort_rows
from query_api.query.translate import EVENTS, Searchable
from schemas.event import format_timestamp
from schemas.index import FieldKind, FieldMap
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
# Buckets per composite page: every page reads every matching event again, so fewer pages
# are faster; a page Elasticsearch refuses (search.max_buckets) is asked again smaller.
COMPOSITE_PAGE_SIZE = 2_000
SCAN_PAGE_SIZE = 1_000
# The events' own order (SPEC §6), where no sort stage gave them one: what skip and limit
# take and what first/last/push/merge_objects see.
EVENT_ORDER = (SortKey(key="created_at"),)  # then event_id, as every sort

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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SortValue = tuple[int, str]  # (created_at epoch millis, the document's id)
# Where an event stands in the order a group sees: its (created_at, event_id) from a
# composite bucket's top hit, or its position among the events fetched in window order.
EventOrder = SortValue | int


def date_fields(fields: FieldMap) -> tuple[str, ...]:
    """The top-level date fields of a collection (events: created_at, occurred_at)."""
    return tuple(n for n, spec in fields.properties.items() if spec.get("type") == "date")


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
    time_zone: str = "UTC"  # of date buckets (an IANA name)

    def source(self, *, missing_bucket: bool = True) -> dict[str, Any]:
        """The composite source: terms on the exact field, or a UTC date_histogram."""
        options: dict[str, Any] = {"field": self.field}
        if missing_bucket:
            options["missing_bucket"] = True
        if self.granularity in (None, "instant"):
            return {"terms": options}
        options |= {"calendar_interval": self.granularity, "time_zone": self.time_zone}
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
        if not self.pattern:
            return format_timestamp(instant)
        return instant.astimezone(ZoneInfo(self.time_zone)).strftime(self.pattern)


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
    id_field: str = "event_id"  # ties of created_at order (first/last of a composite bucket)


@dataclass(frozen=True)
class Window:
    """Which matching events, in which order: the leading sort/skip/limit, for Elasticsearch."""

    sort: tuple[SortKey, ...] = ()  # (): EVENT_ORDER
    offset: int = 0
    limit: int | None = None

    @property
    def order(self) -> tuple[SortKey, ...]:
        """The order the window's events come in."""
        return self.sort or EVENT_ORDER

    @property
    def everything(self) -> bool:
        return self.offset == 0 and self.limit is None

    def cut(self, total: int) -> int:
        """How many of `total` matching events the window holds."""
        kept = max(0, total - self.offset)
        return kept if self.limit is None else min(kept, self.limit)


@dataclass(frozen=True)
class StatPlan:
    """What to ask Elasticsearch (`mode` over `window`) and the stages to run here after it.

    `event_stages` (sort/skip/limit) run here over fetched events before the `mode`'s
    step; `stages` run over rows after it (`query_api.query.stages`).
    """

    mode: Literal["group", "count", "documents", "distinct"]
    window: Window = field(default_factory=Window)
    event_stages: tuple[Stage, ...] = ()
    group: GroupPlan | None = None
    distinct: KeyPlan | None = None
    count_name: str = ""
    stages: tuple[Stage, ...] = ()
    page: Page = field(default_factory=Page)
    searchable: Searchable = EVENTS  # what is counted: events, or another collection

    @property
    def fetches_events(self) -> bool:
        """Whether the events themselves are read (else aggregations or a count answer)."""
        if self.mode == "distinct":
            return False
        if self.mode == "documents" or self.event_stages:
            return True
        if self.mode == "count":
            return False
        assert self.group is not None
        # first/last over a sort see the sort's order: only the events in that order give it.
        sorted_first = bool(self.window.sort) and any(f.reads_source for f in self.group.fields)
        return self.group.scan or sorted_first or not self.window.everything


def plan_stat(query: StatisticsQuery, searchable: Searchable = EVENTS) -> StatPlan:
    """Check a StatisticsQuery and decide how to answer it; errors come before any I/O.

    `searchable` is the collection counted (events by default; alerts, notes and event
    rules have the same created_at and their own id, which orders ties)."""
    fields = searchable.fields
    if query.distinct and query.aggregate:
        raise QueryError(INVALID, "give either `aggregate` or `distinct`, not both")
    if query.distinct:
        key = _key_plan(GroupKey(key=query.distinct, name="value"), fields)
        return StatPlan(mode="distinct", distinct=key, page=query.page, searchable=searchable)
    stages = list(query.aggregate)
    window, i = _window(stages, fields)
    event_stages = []
    while i < len(stages) and _is_window_stage(stages[i]):
        if stages[i].sort is not None:
            doc_sort_fields(stages[i].sort or [], fields)  # refuses objects before any I/O
        event_stages.append(stages[i])
        i += 1
    rest = stages[i + 1 :]
    common = {"window": window, "event_stages": tuple(event_stages), "page": query.page,
              "searchable": searchable}  # fmt: skip
    for stage in rest:
        if stage.group is not None:
            plan_row_group(stage.group)
    if i < len(stages) and stages[i].group is not None:
        group = plan_group(stages[i].group, searchable)
        return StatPlan(mode="group", group=group, stages=tuple(rest), **common)
    if i < len(stages) and stages[i].count is not None:
        return StatPlan(mode="count", count_name=stages[i].count.name, stages=tuple(rest),
                        **common)  # fmt: skip
    return StatPlan(mode="documents", stages=tuple(stages[i:]), **common)


def _is_window_stage(stage: Stage) -> bool:
    return stage.sort is not None or stage.skip is not None or stage.limit is not None


def _window(stages: list[Stage], fields: FieldMap = EVENTS.fields) -> tuple[Window, int]:
    """The leading sort and the skip/limit stages after it, folded; and where they end."""
    sort: tuple[SortKey, ...] = ()
    offset, limit = 0, None
    i = 0
    while i < len(stages) and stages[i].sort is not None:  # the last sort decides the order
        sort = tuple(stages[i].sort or ())
        doc_sort_fields(sort, fields)
        i += 1
    while i < len(stages) and (stages[i].skip is not None or stages[i].limit is not None):
        if stages[i].skip is not None:
            skip = stages[i].skip or 0
            offset += skip
            limit = None if limit is None else max(0, limit - skip)
        else:
            limit = stages[i].limit if limit is None else min(limit, stages[i].limit or 0)
        i += 1
    return Window(sort=sort, offset=offset, limit=limit), i


def plan_row_group(group: Group) -> None:
    """A group over rows: names unique, date patterns known (any path is allowed)."""
    names = [key.name for key in group.keys] + [item.name for item in group.fields]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise QueryError(INVALID, f"group names must be unique: {', '.join(duplicates)}")
    for key in group.keys:
        if key.date_format is not None:
            pattern_granularity(_NAMED_FORMATS.get(key.date_format, (None, key.date_format))[1])


def plan_group(group: Group, searchable: Searchable = EVENTS) -> GroupPlan:
    keys = tuple(_key_plan(key, searchable.fields) for key in group.keys)
    fields = tuple(_field_plan(item, searchable.fields) for item in group.fields)
    names = [key.name for key in keys] + [item.name for item in fields]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise QueryError(INVALID, f"group names must be unique: {', '.join(duplicates)}")
    scan = any(item.operator in ("push", "merge_objects") for item in fields)
    return GroupPlan(keys=keys, fields=fields, scan=scan, id_field=searchable.id_field)


def _resolve(path: str, role: str, fields: FieldMap) -> tuple[FieldKind, str]:
    resolved = fields.kind(path)
    if resolved is None:
        raise QueryError(INVALID, f"{role}: unknown field {path!r}")
    return resolved


def _is_object(kind: FieldKind, path: str) -> bool:
    return kind == "object" or (kind == "flattened" and "." not in path)


def _key_plan(key: GroupKey, fields: FieldMap = EVENTS.fields) -> KeyPlan:
    kind, exact = _resolve(key.key, f"group key {key.name!r}", fields)
    if _is_object(kind, key.key):
        raise QueryError(INVALID, f"{key.key!r} is an object; group by one of its fields")
    if key.date_format is None:
        return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind)
    if kind != "date":
        raise QueryError(INVALID, f"date_format needs a date field; {key.key!r} is {kind}")
    es_format, pattern = _NAMED_FORMATS.get(key.date_format, (None, key.date_format))
    granularity = pattern_granularity(pattern)
    return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind, es_format=es_format,
                   pattern=pattern, granularity=granularity,
                   time_zone=key.time_zone or "UTC")  # fmt: skip


def pattern_granularity(pattern: str) -> Granularity:
    """The coarsest bucket that keeps every instant of a bucket formatting alike."""
    finest = 0
    for directive in _DIRECTIVE.findall(pattern):
        if directive not in _DIRECTIVES:
            raise QueryError(INVALID, f"date_format {pattern!r}: unknown directive %{directive}")
        finest = max(finest, _FINENESS.index(_DIRECTIVES[directive]))
    return _FINENESS[finest] or "year"


def _field_plan(item: GroupField, fields: FieldMap = EVENTS.fields) -> FieldPlan:
    if item.operator == "count":
        return FieldPlan(name=item.name, operator="count")
    path = item.key or ""
    kind, exact = _resolve(path, f"group field {item.name!r}", fields)
    plan = FieldPlan(name=item.name, operator=item.operator, path=path, field=exact, kind=kind)
    if plan.reads_values and _is_object(kind, path):
        raise QueryError(INVALID, f"{item.operator}: {path!r} is an object; use one of its fields")
    return plan


# ---- composite aggregation ------------------------------------------------------------------


def composite_aggregations(
    plan: GroupPlan, *, after: dict[str, Any] | None = None, size: int = COMPOSITE_PAGE_SIZE
) -> dict[str, Any]:
    """The `aggs` of one page of a group stage (no keys: one bucket of every event)."""
    sub = {f"f{i}": agg for i, item in enumerate(plan.fields)
           if (agg := _field_agg(item, plan.id_field))}  # fmt: skip
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
        values = {_from_millis(v) for v in raw} if item.kind == "date" else set(raw)
        if op in ("sum", "average"):
            numbers = [] if item.kind == "date" else [read_number(v) for v in values]
            present = [n for n in numbers if n is not None]
            return (sum(present), len(present))
        if op == "add_to_set":
            return values
        return (max if op == "max" else min)(values) if values else None
    value = stored_value(hit.get("_source", {}), item.path, item.kind)
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


# ---- documents in Python -------------------------------------------------------------------


def sort_hits(
    hits: list[dict[str, Any]], keys: Sequence[SortKey], searchable: Searchable = EVENTS
) -> list[dict[str, Any]]:
    """Events ordered exactly as Elasticsearch orders them for `translate_sort(keys)`.

    Each key compares the field's doc values (the smallest ascending, the largest
    descending), missing last both ways; ties by the id (event_id) ascending.
    """
    ordered = sorted(hits, key=lambda hit: _doc_values(hit, searchable.id_field)[:1])
    for name, kind, desc in reversed(doc_sort_fields(keys, searchable.fields)):
        present, absent = [], []
        for hit in ordered:
            values = _doc_values(hit, name)
            if kind == "date":
                values = [int(float(v)) for v in values]
            if values:
                present.append(((max if desc else min)(values), hit))
            else:
                absent.append(hit)
        present.sort(key=lambda pair: pair[0], reverse=desc)
        ordered = [hit for _, hit in present] + absent
    return ordered


def _doc_values(hit: dict[str, Any], field: str) -> list[Any]:
    return hit.get("fields", {}).get(field, [])


def doc_sort_fields(
    keys: Sequence[SortKey], mapped: FieldMap = EVENTS.fields
) -> list[tuple[str, FieldKind, bool]]:
    """(exact field, kind, desc) of each sort key over events, as `translate_sort` reads them."""
    fields = []
    for key in keys:
        found = mapped.kind(key.key)
        if found is None:
            continue  # no event has it: it orders nothing
        if _is_object(found[0], key.key):
            raise QueryError(INVALID, f"sort: {key.key} is an object")
        fields.append((found[1], found[0], key.desc))
    return fields


def document_row(source: dict[str, Any], fields: FieldMap = EVENTS.fields) -> dict[str, Any]:
    """An event as a pipeline row: its stored fields, dates formatted as in EventInfo."""
    row = dict(source)
    for name in date_fields(fields):
        if row.get(name) is not None:
            row[name] = _format_stored_date(row[name])
    return row


def page_result(rows: list[Any], page: Page) -> dict[str, Any]:
    """`{results, total_count?}`: total_count (rows before paging) only when page.limit > 0."""
    if not page.limit:
        return {"results": rows}
    start = page.start - 1
    return {"results": rows[start : start + page.limit], "total_count": len(rows)}
