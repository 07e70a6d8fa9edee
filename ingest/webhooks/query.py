"""Webhook list: a Query (SPEC §5) translated to an Elasticsearch search body, purely.

Webhooks are few and their fields simple, so this supports the operators a
management list needs, with SPEC §5's meanings and error codes: eq, not, in,
not_in, contain, not_contain, contain_in, not_contain_in, exists, and lt/lte/gt/gte
(also as datetime_*) on the dates. Any other operator is ERROR_DB_QUERY.
Fields are those of `WEBHOOK_MAPPINGS` (the one place they are written down)
plus any `tags.<key>`; `access_key_sha256` can be neither filtered nor returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.query import Condition, Query, QueryError

MAX_WINDOW = 10_000
DATE: dict[str, Any] = {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
KEYWORD: dict[str, Any] = {"type": "keyword"}
WEBHOOK_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    # Every tag value is a keyword: `tags.env` works with eq, contain, sort (SPEC §5).
    "dynamic_templates": [
        {
            "tags_as_keywords": {
                "path_match": "tags.*",
                "match_mapping_type": ["string", "long", "double", "boolean"],
                "mapping": {"type": "keyword", "ignore_above": 1024},
            }
        }
    ],
    "properties": {
        "webhook_id": KEYWORD,
        "name": KEYWORD,
        "state": KEYWORD,
        "plugin_info": {
            "properties": {
                "plugin_id": KEYWORD,
                # Parser options of any shape: kept in _source, never indexed.
                "options": {"type": "object", "enabled": False},
            }
        },
        "project_id": KEYWORD,
        "domain_id": KEYWORD,
        "tags": {"type": "object", "dynamic": True},
        "access_key_sha256": {"type": "keyword", "index": False, "doc_values": False},
        "created_at": DATE,
        "updated_at": DATE,
    },
}
SECRET_FIELDS = ("access_key_sha256",)
MINIMAL_FIELDS = ("webhook_id", "name", "state")
KEYWORD_FIELDS = ("webhook_id", "name")
SINGLE = ("eq", "not", "contain", "not_contain", "lt", "lte", "gt", "gte")
LISTS = ("in", "not_in", "contain_in", "not_contain_in")
RANGES = {"lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}
RANGES.update({f"datetime_{op}": op for op in ("lt", "lte", "gt", "gte")})


def field_type(key: str) -> str:
    """`keyword` or `date` for a key a list may filter or sort on; else ERROR_INVALID_ARGUMENT."""
    if key.startswith("tags.") and len(key) > len("tags."):
        return "keyword"
    spec: Mapping[str, Any] = {"properties": WEBHOOK_MAPPINGS["properties"]}
    for part in key.split("."):
        spec = spec.get("properties", {}).get(part, {})
    kind = spec.get("type")
    if key in SECRET_FIELDS or kind not in ("keyword", "date"):
        raise QueryError(
            "ERROR_INVALID_ARGUMENT", f"webhooks cannot be filtered or sorted by {key!r}"
        )
    return kind


def translate_condition(condition: Condition) -> dict[str, Any]:
    """One condition -> one Elasticsearch query clause."""
    key, op, value = condition.key, condition.operator, condition.value
    kind = field_type(key)
    if op == "exists":
        if not isinstance(value, bool):
            raise QueryError("ERROR_INVALID_ARGUMENT", f"`exists` on {key!r} needs true or false")
        clause = {"exists": {"field": key}}
        return clause if value else _not(clause)
    if op in LISTS:
        if not isinstance(value, list):
            raise QueryError(
                "ERROR_OPERATOR_LIST_VALUE_TYPE", f"operator {op!r} on {key!r} needs a list"
            )
        if not value:
            raise QueryError("ERROR_INVALID_ARGUMENT", f"operator {op!r} on {key!r} needs values")
        values = [_scalar(key, op, item, kind) for item in value]
        if op in ("in", "not_in"):
            clause = {"terms": {key: values}}
        else:
            clause = _any([_contains(key, item, kind) for item in values])
        return _not(clause) if op.startswith("not_") else clause
    if op not in SINGLE and op not in RANGES:
        raise QueryError("ERROR_DB_QUERY", f"operator {op!r} is not supported for webhooks")
    if isinstance(value, list):
        raise QueryError(
            "ERROR_OPERATOR_VALUE_TYPE", f"operator {op!r} on {key!r} needs a single value"
        )
    scalar = _scalar(key, op, value, kind)
    if op in RANGES:
        return {"range": {key: {RANGES[op]: scalar}}}
    if op in ("contain", "not_contain"):
        clause = _contains(key, scalar, kind)
    else:
        clause = {"term": {key: scalar}}
    return _not(clause) if op.startswith("not") else clause


def translate_list(query: Query, exact: Mapping[str, str], domain_id: str | None) -> dict[str, Any]:
    """Keyword arguments for `es.search`: filters, domain scope, keyword, sort and page."""
    must: list[dict[str, Any]] = [translate_condition(c) for c in query.filter]
    must += [{"term": {field_name: value}} for field_name, value in exact.items()]
    if domain_id is not None:
        must.append({"term": {"domain_id": domain_id}})
    if query.filter_or:
        must.append(_any([translate_condition(c) for c in query.filter_or]))
    words = (query.keyword or "").split()
    if words:
        # As the original: any word, as a substring of the id or the name.
        must.append(_any([_contains(f, word, "keyword") for word in words for f in KEYWORD_FIELDS]))
    start, limit = query.page.start - 1, query.page.limit or MAX_WINDOW
    if query.count_only:
        start, limit = 0, 0
    elif start + limit > MAX_WINDOW:
        raise QueryError("ERROR_INVALID_ARGUMENT", f"page beyond the first {MAX_WINDOW} webhooks")
    return {
        "query": {"bool": {"filter": must}},
        "sort": translate_sort(query),
        "from_": start,
        "size": limit,
        "track_total_hits": True,
        "source_excludes": list(SECRET_FIELDS),
    }


def translate_sort(query: Query) -> list[dict[str, Any]]:
    """The requested order (default newest first), missing values last, ties by webhook_id."""
    keys = [(sort.key, sort.desc) for sort in query.sort] or [("created_at", True)]
    sort = []
    for key, desc in keys:
        kind = field_type(key)
        order = {"order": "desc" if desc else "asc", "missing": "_last", "unmapped_type": kind}
        sort.append({key: order})
    if "webhook_id" not in {key for key, _ in keys}:
        sort.append({"webhook_id": {"order": "asc"}})
    return sort


def select_fields(document: dict[str, Any], query: Query) -> dict[str, Any]:
    """`only` (dotted keys keep their nesting) or `minimal`; the whole document otherwise."""
    names = query.only or (list(MINIMAL_FIELDS) if query.minimal else None)
    if not names:
        return document
    picked: dict[str, Any] = {}
    for name in names:
        source: Any = document
        parts = name.split(".")
        for part in parts:
            source = source.get(part, _MISSING) if isinstance(source, dict) else _MISSING
        if source is _MISSING:
            continue
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = source
    return picked


_MISSING = object()


def _scalar(key: str, op: str, value: Any, kind: str) -> str:
    """The value as the index holds it: keywords as strings (booleans as `true`), dates checked."""
    if value is None or isinstance(value, dict | list):
        raise QueryError(
            "ERROR_INVALID_ARGUMENT", f"operator {op!r} on {key!r} needs a string or number"
        )
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    if kind == "date":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                "ERROR_INVALID_ARGUMENT", f"{key!r} needs an ISO-8601 time, not {text!r}"
            ) from None
    return text


def _contains(key: str, value: str, kind: str) -> dict[str, Any]:
    if kind != "keyword":
        raise QueryError("ERROR_INVALID_ARGUMENT", f"substring match is not possible on {key!r}")
    escaped = value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return {"wildcard": {key: {"value": f"*{escaped}*", "case_insensitive": True}}}


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _not(clause: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"must_not": [clause]}}
