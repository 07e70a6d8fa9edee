"""How events are laid out in Elasticsearch: the one mapping, index names and the read alias.

Events go to one index per UTC day of `created_at` (`<events>-YYYY.MM.DD`), all
behind the read alias `<events>`. Since an event's day never changes, a replay
lands in the same index, where `_id` = event_id makes it a no-op. Retention
deletes whole days. Both index creation and the query translator read the
mapping below, so field types are written down once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

KEYWORD: dict[str, Any] = {"type": "keyword"}
# Text for full-text search, with a keyword sub-field for exact match, substring
# (wildcard) and regex matching, sorting and grouping. Longer values are not in the
# sub-field, so exact and substring matches see only their first 8191 characters.
TEXT_WITH_KEYWORD: dict[str, Any] = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}},
}
DATE: dict[str, Any] = {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
# Arbitrary objects: every leaf is a keyword, reachable with a dotted key, no mapping explosion.
FLATTENED: dict[str, Any] = {"type": "flattened", "ignore_above": 8191}

EVENT_PROPERTIES: dict[str, Any] = {
    "event_id": KEYWORD,
    "event_key": KEYWORD,
    "event_type": KEYWORD,
    "title": TEXT_WITH_KEYWORD,
    "description": TEXT_WITH_KEYWORD,
    "severity": KEYWORD,
    "rule": KEYWORD,
    "resource": {"properties": {"resource_id": KEYWORD, "resource_type": KEYWORD, "name": KEYWORD}},
    "provider": KEYWORD,
    "account": KEYWORD,
    "image_url": KEYWORD,
    "raw_data": FLATTENED,
    "additional_info": FLATTENED,
    "alert_id": KEYWORD,
    "webhook_id": KEYWORD,
    "project_id": KEYWORD,
    "domain_id": KEYWORD,
    "created_at": DATE,
    "occurred_at": DATE,
}

EVENT_MAPPINGS: dict[str, Any] = {"dynamic": "strict", "properties": EVENT_PROPERTIES}

FieldKind = Literal["keyword", "text", "date", "flattened", "object"]


def field_kind(path: str) -> tuple[FieldKind, str] | None:
    """The kind of a dotted field and the field to query for exact values, or None if unmapped.

    `title` -> ("text", "title.keyword"); `additional_info.env` -> ("flattened",
    "additional_info.env"); `resource` -> ("object", "resource").
    """
    parts = path.split(".")
    properties = EVENT_PROPERTIES
    for depth, part in enumerate(parts):
        spec = properties.get(part)
        if spec is None:
            return None
        if spec.get("type") == "flattened":
            return "flattened", path
        if "properties" in spec:
            if depth == len(parts) - 1:
                return "object", path
            properties = spec["properties"]
            continue
        if depth != len(parts) - 1:
            return None
        if spec["type"] == "text":
            return "text", f"{path}.keyword"
        return spec["type"], path
    return None


def events_index_for(prefix: str, created_at: datetime) -> str:
    """The daily index an event belongs to, from its created_at in UTC."""
    return f"{prefix}-{created_at.astimezone(UTC):%Y.%m.%d}"


def events_index_pattern(prefix: str) -> str:
    return f"{prefix}-*"


def events_template(prefix: str, *, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """The composable index template every daily events index is created from."""
    return {
        "index_patterns": [events_index_pattern(prefix)],
        "template": {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": "1s",
            },
            "mappings": EVENT_MAPPINGS,
            "aliases": {prefix: {}},
        },
        "priority": 200,
        "_meta": {"managed_by": "eventpipe"},
    }


ALERT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "alert_id": KEYWORD,
        "event_key": KEYWORD,
        "project_id": KEYWORD,
        "domain_id": KEYWORD,
        "state": KEYWORD,
        "urgency": KEYWORD,
        "first_event_at": DATE,
        "last_event_at": DATE,
        "resolved_at": DATE,
        "event_count": {"type": "long"},
    },
}
