"""Bulk indexing as pure steps: events to actions, and a bulk response to what happens next.

`create` with `_id` = event_id makes a replay harmless: Elasticsearch answers 409
and the event counts as done. 429 and 5xx items are retried (only those items);
any other 4xx is the document's fault (a mapping error) and goes to the dead-letter
topic, never retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.event import EventInfo
from schemas.index import events_index_for


@dataclass
class BulkOutcome:
    """Positions (in the request) of items done, to retry, and dead with their reason."""

    done: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    dead: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0


def to_bulk_body(events: Sequence[EventInfo], prefix: str) -> list[str]:
    """The NDJSON lines of one bulk request: a create action and the document per event.

    Lines are serialized here, once, so the client sends them as they are.
    """
    body: list[str] = []
    for event in events:
        index = events_index_for(prefix, event.created_at)
        index_id = f'{json.dumps(index)},"_id":{json.dumps(event.event_id)}'
        body.append(f'{{"create":{{"_index":{index_id}}}}}')
        body.append(event.model_dump_json())
    return body


def classify_bulk_response(response: dict[str, Any]) -> BulkOutcome:
    """Sort each item of a bulk response into done, retry or dead."""
    outcome = BulkOutcome()
    for position, item in enumerate(response.get("items", [])):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status in (200, 201):
            outcome.done.append(position)
        elif status == 409:
            outcome.done.append(position)
            outcome.duplicates += 1
        elif status == 429 or status >= 500:
            outcome.retry.append(position)
        else:
            error = result.get("error", {})
            reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
            kind = error.get("type", "error") if isinstance(error, dict) else "error"
            outcome.dead.append((position, f"{kind}: {reason}"))
    return outcome
