"""What eventpipe must be allowed to do in Elasticsearch: the role of its API key.

Written once: `eventpipe check` asks the cluster whether the configured credentials
hold exactly these, the secured local engines create their API key with them, and
docs/settings.md lists them.
"""

from __future__ import annotations

from typing import Any

from schemas.settings import IndexSettings

# monitor: cluster health (/readyz); manage_index_templates: the events index template.
CLUSTER_PRIVILEGES = ("monitor", "manage_index_templates")
# manage: create the indices, their aliases and mappings, delete expired days, refresh;
# read and write: the documents.
INDEX_PRIVILEGES = ("manage", "read", "write")


def index_patterns(indices: IndexSettings) -> list[str]:
    """Every index eventpipe touches: the daily events indices (and their alias), the rest."""
    return [f"{indices.events}*", indices.alerts, indices.notes, indices.alert_numbers,
            indices.apikeys, indices.webhooks, indices.event_rules]  # fmt: skip


def role_descriptor(indices: IndexSettings) -> dict[str, Any]:
    """The role an API key for eventpipe needs (`POST /_security/api_key`'s role_descriptors)."""
    return {
        "cluster": list(CLUSTER_PRIVILEGES),
        "indices": [{"names": index_patterns(indices), "privileges": list(INDEX_PRIVILEGES)}],
    }


def has_privileges_request(indices: IndexSettings) -> dict[str, Any]:
    """The body of `GET /_security/user/_has_privileges` for the same privileges."""
    return {
        "cluster": list(CLUSTER_PRIVILEGES),
        "index": [{"names": index_patterns(indices), "privileges": list(INDEX_PRIVILEGES)}],
    }


def missing_privileges(answer: dict[str, Any]) -> list[str]:
    """`cluster:X` and `index NAME:X` for each privilege a _has_privileges answer denies."""
    missing = [f"cluster:{name}" for name, held in answer.get("cluster", {}).items() if not held]
    for index, privileges in answer.get("index", {}).items():
        missing += [f"index {index}:{name}" for name, held in privileges.items() if not held]
    return missing
