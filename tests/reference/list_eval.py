"""A small pure-Python reading of SPEC §5, to check the Elasticsearch translation against.

Written from the spec, not from `query_api.query.translate`; it evaluates valid queries only
(errors are the translator's unit tests' business). Where the spec leaves a choice open
it follows the rules documented in `query_api/translate.py`'s docstring:

- a value is compared as text (numbers and booleans as their JSON), except on
  created_at/occurred_at, which compare as instants;
- inside raw_data/additional_info a dotted key names a leaf, an object there is not
  "present"; resource, raw_data and additional_info themselves are present when any
  leaf below them is;
- lists match when any item matches (negative operators: when none does);
- regex is Python's `re.search` with IGNORECASE and DOTALL;
- a null value (eq, in) matches a missing or null field, MongoDB's meaning;
- keyword words match as substrings of event_id/title or when all of their `\\w+`
  tokens are among the title's or the description's (an approximation of the
  standard analyzer, good for ASCII words).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.query import Condition, Query

DATE_FIELDS = {"created_at", "occurred_at"}
FLATTENED_FIELDS = {"raw_data", "additional_info"}
MINIMAL = ["event_id", "event_key", "event_type", "title", "severity", "alert_id"]
EXACT = {
    "event_id": "event_id",
    "event_key": "event_key",
    "event_type": "event_type",
    "severity": "severity",
    "resource_id": "resource.resource_id",
    "provider": "provider",
    "account": "account",
    "alert_id": "alert_id",
    "webhook_id": "webhook_id",
    "project_id": "project_id",
    "domain_id": "domain_id",
}
NEGATIVE = {"not": "eq", "not_in": "in", "not_contain": "contain", "not_contain_in": "contain_in"}


def _walk(doc: Any, key: str) -> list[Any]:
    """Everything at the dotted path, lists flattened."""
    found = [doc]
    for part in key.split("."):
        found = [item[part] for item in _flat(found) if isinstance(item, dict) and part in item]
    return _flat(found)


def _flat(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        out.extend(_flat(value) if isinstance(value, list) else [value])
    return out


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [value]


def _values(doc: dict, key: str) -> list[Any]:
    """The scalar values a condition on `key` sees."""
    return [v for v in _walk(doc, key) if v is not None and not isinstance(v, dict)]


def _present(doc: dict, key: str) -> bool:
    parts = key.split(".")
    if parts[0] in FLATTENED_FIELDS and len(parts) > 1:
        return bool(_values(doc, key))
    return any(_leaves(v) for v in _walk(doc, key))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def timediff(value: str, now: datetime) -> datetime:
    """`now[/d|/w|/m][±N{s,m,h,d,w}]`, /m = start of the month, offsets in UTC."""
    m = re.fullmatch(r"\s*now(/[dwm])?\s*(?:([+-])\s*(\d+)\s*([smhdw]))?\s*", value)
    assert m, value
    base = _instant(now)
    day = base.replace(hour=0, minute=0, second=0, microsecond=0)
    base = {
        None: base,
        "/d": day,
        "/w": day - timedelta(days=day.weekday()),
        "/m": day.replace(day=1),
    }[m[1]]
    if m[2]:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m[4]]
        delta = timedelta(**{unit: int(m[3])})
        base = base + delta if m[2] == "+" else base - delta
    return base


_COMPARE = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def matches(doc: dict, condition: Condition, now: datetime) -> bool:
    """Whether one SPEC §5 condition holds for the event `doc` (its JSON form)."""
    key, op, value = condition.key, condition.operator, condition.value
    if op == "exists":
        return _present(doc, key) == value
    if op in NEGATIVE:
        return not matches(doc, Condition(key=key, value=value, operator=NEGATIVE[op]), now)
    if op == "match":
        return all(
            matches(
                doc,
                Condition(
                    key=f"{key}.{k}", value=v, operator="match" if isinstance(v, dict) else "eq"
                ),
                now,
            )
            for k, v in value.items()
        )
    is_date = key in DATE_FIELDS
    values = _values(doc, key)
    if op in ("eq", "in"):
        wanted = value if op == "in" else [value]
        if None in wanted:  # MongoDB's null: the field is missing or null
            rest = [w for w in wanted if w is not None]
            if not _present(doc, key):
                return True
            wanted = rest
        if is_date:
            return any(_instant(v) == _instant(w) for v in values for w in wanted)
        return any(_text(v) == _text(w) for v in values for w in wanted)
    if op in ("contain", "contain_in"):
        needles = value if op == "contain_in" else [value]
        return any(_text(n).lower() in _text(v).lower() for v in values for n in needles)
    if op in ("regex", "regex_in"):
        patterns = value if op == "regex_in" else [value]
        return any(re.search(p, _text(v), re.I | re.S) for v in values for p in patterns)
    if op in _COMPARE:
        if is_date:
            return any(_COMPARE[op](_instant(v), _instant(value)) for v in values)
        return any(_COMPARE[op](_text(v), _text(value)) for v in values)
    kind, _, comparison = op.partition("_")
    instant = _instant(value) if kind == "datetime" else timediff(value, now)
    return any(_COMPARE[comparison](_instant(v), instant) for v in values)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def keyword_matches(doc: dict, keyword: str | None) -> bool:
    words = (keyword or "").split()
    if not words:
        return True
    title = _text(doc.get("title") or "")
    description = _text(doc.get("description") or "")
    event_id = doc.get("event_id", "")
    for word in words:
        if word.lower() in event_id.lower() or word.lower() in title.lower():
            return True
        tokens = _tokens(word)
        if tokens and (tokens <= _tokens(title) or tokens <= _tokens(description)):
            return True
    return False


def matches_query(
    doc: dict,
    filter: list[Condition],
    filter_or: list[Condition],
    keyword: str | None,
    now: datetime,
) -> bool:
    """filter AND (any of filter_or, if given) AND keyword."""
    return (
        all(matches(doc, c, now) for c in filter)
        and (not filter_or or any(matches(doc, c, now) for c in filter_or))
        and keyword_matches(doc, keyword)
    )


def _sort_value(doc: dict, key: str, desc: bool) -> Any:
    values = _values(doc, key)
    if not values:
        return None
    keyed = [_instant(v) if key in DATE_FIELDS else _text(v) for v in values]
    return max(keyed) if desc else min(keyed)


def sort_docs(docs: list[dict], sort: list[Any]) -> list[dict]:
    """Missing values last in both directions, ties by event_id ascending."""
    keys = [(s.key, s.desc) for s in sort] or [("created_at", True)]

    def compare(a: dict, b: dict) -> int:
        for key, desc in keys:
            va, vb = _sort_value(a, key, desc), _sort_value(b, key, desc)
            if va == vb:
                continue
            if va is None or vb is None:
                return 1 if va is None else -1
            order = (va > vb) - (va < vb)
            return -order if desc else order
        return (a["event_id"] > b["event_id"]) - (a["event_id"] < b["event_id"])

    return sorted(docs, key=functools.cmp_to_key(compare))


def project(doc: Any, paths: list[list[str]]) -> Any:
    """The parts of `doc` named by the dotted paths, nesting kept.

    Like Elasticsearch's source filtering, objects left empty by a partial match are
    dropped (an object named in full is kept even when empty).
    """
    if isinstance(doc, list):
        items = [project(item, paths) for item in doc if isinstance(item, dict | list)]
        return [item for item in items if item]
    out = {}
    for key, value in doc.items():
        rest = [p[1:] for p in paths if p[0] == key]
        if not rest:
            continue
        if any(not r for r in rest):
            out[key] = value
        elif isinstance(value, dict | list):
            inner = project(value, rest)
            if inner:
                out[key] = inner
    return out


def evaluate_list(
    docs: list[dict], query: Query, exact: Mapping[str, str], now: datetime
) -> tuple[list[dict], int]:
    """(the page of results, total_count) of an event list over `docs`."""
    conditions = [Condition(key=EXACT[k], value=v) for k, v in exact.items()]
    found = [
        d
        for d in docs
        if matches_query(d, conditions + query.filter, query.filter_or, query.keyword, now)
    ]
    total = len(found)
    if query.count_only:
        return [], total
    found = sort_docs(found, query.sort)
    if query.page.limit:
        start = query.page.start - 1
        found = found[start : start + query.page.limit]
    fields = query.only or (MINIMAL if query.minimal else None)
    if fields:
        found = [project(d, [f.split(".") for f in fields]) for d in found]
    return found, total
