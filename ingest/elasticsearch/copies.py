"""Searchable copies of a compacted topic's items (webhooks, event rules) written to their
index: each document versioned by the offset of the record it was made from.

External versioning with offset + 1 means several writers (every API process's mirror, a
writer's own immediate copy, replays) never put an older version over a newer one: the
older write is answered 409 and that is success.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch

# Item answers that are fine: written, created, a deleted copy already gone, a newer there.
SETTLED = (200, 201, 404, 409)


def versioned(index: str, doc_id: str, offset: int) -> dict[str, Any]:
    """The bulk metadata of a copy made from the record at `offset`."""
    return {"_index": index, "_id": doc_id, "version": offset + 1, "version_type": "external"}


async def write_copies(
    es: AsyncElasticsearch, operations: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Send the bulk operations, readable once answered (refresh); the items refused."""
    if not operations:
        return []
    answer = await es.bulk(operations=operations, refresh=True)
    if not answer["errors"]:
        return []
    return [item for entry in answer["items"] for item in entry.values()
            if item.get("status") not in SETTLED]  # fmt: skip
