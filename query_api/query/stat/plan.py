"""What a StatisticsQuery asks, decided before any I/O: which prefix Elasticsearch runs
(the window, then a group, a count or the documents), and which stages run here after it.

Every field named is checked against the collection's mapping here, so that a bad query is
refused (ERROR_INVALID_ARGUMENT) before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from query_api.query.stat.dates import NAMED_FORMATS, Granularity, pattern_granularity
from query_api.query.stat.documents import doc_sort_fields, is_object
from query_api.query.stat.limits import INVALID
from query_api.query.stat.values import from_millis
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

# The events' own order (SPEC §6), where no sort stage gave them one: what skip and limit
# take and what first/last/push/merge_objects see.
EVENT_ORDER = (SortKey(key="created_at"),)  # then event_id, as every sort


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
    step; `stages` run over rows after it (`query_api.query.stat.rows`).
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
            pattern_granularity(NAMED_FORMATS.get(key.date_format, (None, key.date_format))[1])


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


def _key_plan(key: GroupKey, fields: FieldMap = EVENTS.fields) -> KeyPlan:
    kind, exact = _resolve(key.key, f"group key {key.name!r}", fields)
    if is_object(kind, key.key):
        raise QueryError(INVALID, f"{key.key!r} is an object; group by one of its fields")
    if key.date_format is None:
        return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind)
    if kind != "date":
        raise QueryError(INVALID, f"date_format needs a date field; {key.key!r} is {kind}")
    es_format, pattern = NAMED_FORMATS.get(key.date_format, (None, key.date_format))
    granularity = pattern_granularity(pattern)
    return KeyPlan(name=key.name, path=key.key, field=exact, kind=kind, es_format=es_format,
                   pattern=pattern, granularity=granularity,
                   time_zone=key.time_zone or "UTC")  # fmt: skip


def _field_plan(item: GroupField, fields: FieldMap = EVENTS.fields) -> FieldPlan:
    if item.operator == "count":
        return FieldPlan(name=item.name, operator="count")
    path = item.key or ""
    kind, exact = _resolve(path, f"group field {item.name!r}", fields)
    plan = FieldPlan(name=item.name, operator=item.operator, path=path, field=exact, kind=kind)
    if plan.reads_values and is_object(kind, path):
        raise QueryError(INVALID, f"{item.operator}: {path!r} is an object; use one of its fields")
    return plan
