"""A small pure-Python reading of SPEC §6 (event stat), to check `query_api.stat_search` against.

Written from the spec over raw event documents, not from `query_api.stat`; filters
come from `list_eval.matches_query`. It evaluates valid queries only. Where the
spec leaves a choice open it follows the rules in `query_api/stat.py`'s docstring:

- keys, max, min, add_to_set, sum, average see a field's indexed values: keyword
  strings, text up to 8191 characters, dates as `2024-05-01T00:00:00.000Z`, the
  scalar leaves of additional_info/raw_data as text (numbers and booleans as their
  JSON); a list gives each distinct element; an event is in one group per value,
  in the null group without one;
- sum/average add the values that read as numbers; first/last/push/merge_objects
  read the stored field in (created_at, event_id) order;
- rows come ordered by their keys, missing last; sort is stable, missing last;
  unwind drops rows whose list is missing, null or empty; count gives one row.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from typing import Any

from schemas.query import Group, GroupField, GroupKey, SortKey, Stage, StatisticsQuery
from tests.reference.list_eval import matches_query

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
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        return float(text)
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


def group_events(events: list[dict], group: Group) -> list[dict]:
    events = sorted(events, key=lambda e: (instant(e["created_at"]), e["event_id"]))
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
    head, dot, rest = path.partition(".")
    if dot and isinstance(row, dict) and head in row:
        return _get(row[head], rest)
    return ABSENT


def sort_rows(rows: list[dict], keys: list[SortKey]) -> list[dict]:
    for key in reversed(keys):
        present = [r for r in rows if _get(r, key.key) not in (ABSENT, None)]
        present.sort(key=lambda r: _get(r, key.key), reverse=key.desc)
        rows = present + [r for r in rows if _get(r, key.key) in (ABSENT, None)]
    return rows


def run_stage(rows: list[dict], stage: Stage) -> list[dict]:
    if stage.count is not None:
        return [{stage.count.name: len(rows)}]
    if stage.sort is not None:
        return sort_rows(rows, stage.sort)
    if stage.limit is not None:
        return rows[: stage.limit]
    if stage.skip is not None:
        return rows[stage.skip :]
    if stage.unwind is not None:
        path = stage.unwind.path.removeprefix("$")
        out = []
        for row in rows:
            value = row.get(path)
            if value is None or value == []:
                continue
            out.extend(
                {**row, path: item} for item in (value if isinstance(value, list) else [value])
            )
        return out
    assert stage.project is not None
    project = stage.project
    if project.fields:
        rows = [{f.name: _get(r, f.key) for f in project.fields if _get(r, f.key) is not ABSENT}
                for r in rows]  # fmt: skip
    return [{k: v for k, v in r.items() if k not in project.exclude_keys} for r in rows]


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
        first, *rest = query.aggregate
        if first.group is not None:
            rows = group_events(events, first.group)
        else:
            assert first.count is not None
            rows = [{first.count.name: len(events)}]
        for stage in rest:
            rows = run_stage(rows, stage)
    if not query.page.limit:
        return {"results": rows}
    start = query.page.start - 1
    return {"results": rows[start : start + query.page.limit], "total_count": len(rows)}
