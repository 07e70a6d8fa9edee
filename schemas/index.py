"""How eventpipe lays out its Elasticsearch indices: every mapping, index names, the read alias.

Events go to one index per UTC day of `created_at` (`<events>-YYYY.MM.DD`), all
behind the read alias `<events>`. Since an event's day never changes, a replay
lands in the same index, where `_id` = event_id makes it a no-op. Retention
deletes whole days. Alerts, webhooks and API keys each have one index. Index
creation and the query translator (through `FieldMap`) read the mappings below,
so field types are written down once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
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


@dataclass(frozen=True)
class FieldMap:
    """What a query may see of an index's fields, read from its mapping.

    Fields mapped with `"index": false` are hidden (never filtered, sorted or shown);
    `dynamic_templates` that map a path pattern to keywords (`tags.*`) make any path
    they match a keyword, mapped or not yet.
    """

    properties: dict[str, Any]
    dynamic_keywords: tuple[str, ...] = ()

    @classmethod
    def of(cls, mappings: dict[str, Any]) -> FieldMap:
        patterns = []
        for template in mappings.get("dynamic_templates", []):
            for rule in template.values():
                if rule.get("mapping", {}).get("type") == "keyword" and "path_match" in rule:
                    patterns.append(rule["path_match"])
        return cls(mappings["properties"], tuple(patterns))

    def kind(self, path: str) -> tuple[FieldKind, str] | None:
        """The kind of a dotted field and the field to query for exact values, or None if
        unmapped (or hidden).

        `title` -> ("text", "title.keyword"); `additional_info.env` -> ("flattened",
        "additional_info.env"); `resource` -> ("object", "resource").
        """
        parts = path.split(".")
        properties = self.properties
        for depth, part in enumerate(parts):
            spec = properties.get(part)
            if spec is None:
                break
            if spec.get("index") is False or spec.get("enabled") is False:
                return None
            if spec.get("type") == "flattened":
                return "flattened", path
            if "properties" in spec or spec.get("type", "object") == "object":
                if depth == len(parts) - 1:
                    return "object", path
                properties = spec.get("properties", {})
                continue
            if depth != len(parts) - 1:
                return None
            if spec["type"] == "text":
                return "text", f"{path}.keyword"
            return spec["type"], path
        if any(fnmatchcase(path, pattern) for pattern in self.dynamic_keywords):
            return "keyword", path
        return None

    def is_dynamic(self, path: str) -> bool:
        """Whether a keyword comes from a dynamic template (it may be unmapped so far)."""
        return any(fnmatchcase(path, pattern) for pattern in self.dynamic_keywords)

    def hidden(self, path: str) -> bool:
        """Whether the mapping keeps the field out of queries (`"index": false`, or an
        object stored but not indexed, `"enabled": false`)."""
        spec: dict[str, Any] = {"properties": self.properties}
        for part in path.split("."):
            spec = spec.get("properties", {}).get(part, {})
            if spec.get("index") is False or spec.get("enabled") is False:
                return True
        return False


EVENT_FIELDS = FieldMap.of(EVENT_MAPPINGS)


def field_kind(path: str) -> tuple[FieldKind, str] | None:
    """The kind of an event field (see `FieldMap.kind`)."""
    return EVENT_FIELDS.kind(path)


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
        # alert.proto's AlertInfo (schemas.alert.AlertInfo), field for field
        "alert_number": {"type": "long"},
        "alert_id": KEYWORD,
        "title": TEXT_WITH_KEYWORD,
        "state": KEYWORD,
        "status_message": TEXT_WITH_KEYWORD,
        "description": TEXT_WITH_KEYWORD,
        "assignee": KEYWORD,
        "urgency": KEYWORD,
        "severity": KEYWORD,
        "rule": KEYWORD,
        "resource": EVENT_PROPERTIES["resource"],
        "provider": KEYWORD,
        "account": KEYWORD,
        "is_snoozed": {"type": "boolean"},
        "snoozed_end_time": DATE,
        "escalation_step": {"type": "long"},
        "escalation_ttl": {"type": "long"},
        "responders": {"properties": {"resource_type": KEYWORD, "resource_id": KEYWORD}},
        "project_dependencies": KEYWORD,
        "image_url": KEYWORD,
        "additional_info": FLATTENED,
        "triggered_by": KEYWORD,
        "webhook_id": KEYWORD,
        "escalation_policy_id": KEYWORD,
        "project_id": KEYWORD,
        "domain_id": KEYWORD,
        "created_at": DATE,
        "updated_at": DATE,
        "acknowledged_at": DATE,
        "resolved_at": DATE,
        "escalated_at": DATE,
        # eventpipe's correlation fields
        "event_key": KEYWORD,
        "first_event_at": DATE,
        "last_event_at": DATE,
        "event_count": {"type": "long"},
        # read by the worker and the API only, never queried (schemas.alert.StoredAlert)
        "correlation_key": {"type": "keyword", "index": False, "doc_values": False},
        "changes": {"type": "object", "enabled": False},
    },
}
ALERT_FIELDS = FieldMap.of(ALERT_MAPPINGS)

NOTE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "note_id": KEYWORD,
        "alert_id": KEYWORD,
        "note": TEXT_WITH_KEYWORD,
        "created_by": KEYWORD,
        "project_id": KEYWORD,
        "domain_id": KEYWORD,
        "created_at": DATE,
    },
}
NOTE_FIELDS = FieldMap.of(NOTE_MAPPINGS)

# A counter document per domain: where alert numbers are taken from (a block at a time).
ALERT_NUMBER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {"domain_id": KEYWORD, "next": {"type": "long"}},
}


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
        "duplicate_window_seconds": {"type": "double"},
        "access_key_sha256": {"type": "keyword", "index": False, "doc_values": False},
        "created_at": DATE,
        "updated_at": DATE,
    },
}
WEBHOOK_FIELDS = FieldMap.of(WEBHOOK_MAPPINGS)

EVENT_RULE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "dynamic_templates": WEBHOOK_MAPPINGS["dynamic_templates"],  # tags.* as keywords
    "properties": {
        "event_rule_id": KEYWORD,
        "name": KEYWORD,
        "order": {"type": "integer"},
        "conditions": {"properties": {"key": KEYWORD, "value": KEYWORD, "operator": KEYWORD}},
        "conditions_policy": KEYWORD,
        "actions": {
            "properties": {
                "change_project": KEYWORD,
                "change_assignee": KEYWORD,
                "change_urgency": KEYWORD,
                "add_project_dependency": KEYWORD,
                "add_responder": {"properties": {"resource_type": KEYWORD, "resource_id": KEYWORD}},
                "add_additional_info": FLATTENED,
                "no_notification": {"type": "boolean"},
            }
        },
        "options": {"properties": {"stop_processing": {"type": "boolean"}}},
        "scope": KEYWORD,
        "project_id": KEYWORD,
        "tags": {"type": "object", "dynamic": True},
        "domain_id": KEYWORD,
        "created_at": DATE,
    },
}
EVENT_RULE_FIELDS = FieldMap.of(EVENT_RULE_MAPPINGS)

APIKEY_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key_id": KEYWORD,
        "secret_sha256": {"type": "keyword", "index": False},
        "domain_id": KEYWORD,
        "created_at": {"type": "date"},
        "revoked": {"type": "boolean"},
    },
}


@dataclass(frozen=True)
class IndexSpec:
    """A single index eventpipe creates when missing: its mapping and its settings."""

    mappings: dict[str, Any]
    settings: dict[str, Any]


SMALL_INDEX = {"number_of_shards": 1, "number_of_replicas": 0}
ALERTS_INDEX = IndexSpec(ALERT_MAPPINGS, SMALL_INDEX)
NOTES_INDEX = IndexSpec(NOTE_MAPPINGS, SMALL_INDEX)
ALERT_NUMBERS_INDEX = IndexSpec(ALERT_NUMBER_MAPPINGS, SMALL_INDEX)
APIKEYS_INDEX = IndexSpec(APIKEY_MAPPINGS, SMALL_INDEX)
# Many distinct tag keys must not make creates fail: keys past the limit stay in _source,
# unindexed, instead of refusing the document.
TAGGED_INDEX = {
    **SMALL_INDEX,
    "mapping.total_fields.limit": 2000,
    "mapping.total_fields.ignore_dynamic_beyond_limit": True,
}
WEBHOOKS_INDEX = IndexSpec(WEBHOOK_MAPPINGS, TAGGED_INDEX)
EVENT_RULES_INDEX = IndexSpec(EVENT_RULE_MAPPINGS, TAGGED_INDEX)
