"""Bulk indexing as pure steps: events to actions, and a bulk response to what happens next.

Lines are built as bytes from documents that are already JSON, and the body goes to the
client as one bytes object, which it sends as it is. `create` with `_id` = event_id makes
a replay harmless: Elasticsearch answers 409, and the event counts as done once the
stored document is found to be the same event (`same_event`); a different one under the
same id is an error, never a silent duplicate. 429 and 5xx items are retried (only those items);
any other 4xx is the document's fault (a mapping error) and goes to the dead-letter
topic, never retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class BulkResult:
    """What became of bulk items, by position: done (duplicates included), duplicates (a
    409 to a create: there already), to send again, dead with why; and how many items were
    sent again on the way (the one answer of a response and of a whole write)."""

    done: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    dead: list[tuple[int, str]] = field(default_factory=list)
    retried: int = 0


def daily_index(prefix: str, created_at: str) -> str:
    """The daily index of an event from its created_at text (`2024-05-01T…Z`, UTC):
    `schemas.index.events_index_for` without parsing the date."""
    return f"{prefix}-{created_at[:4]}.{created_at[5:7]}.{created_at[8:10]}"


def create_action(index: str, doc_id: str) -> bytes:
    """A bulk `create` action line: a replay of the same id is refused (409), never doubled."""
    return b'{"create":{"_index":%s,"_id":%s}}' % (orjson.dumps(index), orjson.dumps(doc_id))


def index_action(index: str, doc_id: str) -> bytes:
    """A bulk `index` action line: the document replaces any earlier version."""
    return b'{"index":{"_index":%s,"_id":%s}}' % (orjson.dumps(index), orjson.dumps(doc_id))


def delete_action(index: str, doc_id: str) -> bytes:
    """A bulk `delete` action line (it takes no document: pair it with b"")."""
    return b'{"delete":{"_index":%s,"_id":%s}}' % (orjson.dumps(index), orjson.dumps(doc_id))


def to_bulk_body(items: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The NDJSON body of one bulk request from (action, document) pairs, sent as is; a
    delete's empty document is no line."""
    lines = []
    for action, doc in items:
        lines.append(action)
        if doc:
            lines.append(doc)
    lines.append(b"")
    return b"\n".join(lines)


def same_event(doc: bytes, stored: Mapping[str, Any]) -> bool:
    """Whether the stored document of a 409 is this event again (a replay), not another
    event under the same id: equal in every field but alert_id (a replay that correlation
    no longer remembered may be given another alert)."""
    try:
        ours = orjson.loads(doc)
    except orjson.JSONDecodeError:  # integers beyond 64 bits: the standard library reads them
        ours = json.loads(doc)
    theirs = dict(stored)
    ours.pop("alert_id", None)
    theirs.pop("alert_id", None)
    return bool(ours == theirs)


def classify_bulk_response(response: dict[str, Any]) -> BulkResult:
    """Sort each item of a bulk response into done, retry or dead."""
    outcome = BulkResult()
    for position, item in enumerate(response.get("items", [])):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status in (200, 201) or (status == 404 and "delete" in item):  # gone already
            outcome.done.append(position)
        elif status == 409:
            outcome.done.append(position)
            outcome.duplicates.append(position)
        elif status == 429 or status >= 500:
            outcome.retry.append(position)
        else:
            error = result.get("error", {})
            reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
            kind = error.get("type", "error") if isinstance(error, dict) else "error"
            outcome.dead.append((position, f"{kind}: {reason}"))
    return outcome
