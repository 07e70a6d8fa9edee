"""From a record of `events.raw` to EventInfo documents (SPEC §4 steps 2-4). Pure.

A record is either what the HTTP intake wrote — the sender's body as is, with
the webhook id and an HMAC signature in headers — or what a direct producer
wrote: a CreateEventRequest JSON carrying the access key. Event ids derive from
the record's position (topic, partition, offset, index in the payload), so a
replayed record yields the same ids and Elasticsearch refuses the duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.event import EventInfo, EventType, ParsedEvent, Severity
from schemas.messages import CreateEventRequest
from schemas.parser import ParseError

HEADER_WEBHOOK = "eventpipe-webhook-id"
HEADER_SIGNATURE = "eventpipe-signature"


class InvalidRecord(Exception):
    """A record that can never become events: it goes to the dead-letter topic with `reason`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Submission:
    """Who sent a record and what: checked by signature (intake) or by access key (direct)."""

    webhook_id: str
    data: Any
    access_key: str | None = None
    signature: str | None = None
    signed_bytes: bytes = b""


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int


def decode_record(value: bytes | None, headers: Mapping[str, bytes]) -> Submission:
    """Read a raw record; InvalidRecord when it is not JSON or not a CreateEventRequest."""
    if value is None:
        raise InvalidRecord("ERROR_EMPTY_RECORD", "record has no value")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRecord("ERROR_NOT_JSON", f"record value is not JSON: {error}") from None
    webhook = headers.get(HEADER_WEBHOOK)
    if webhook is not None:
        signature = headers.get(HEADER_SIGNATURE, b"").decode(errors="replace")
        return Submission(
            webhook_id=webhook.decode(errors="replace"),
            data=data,
            signature=signature,
            signed_bytes=value,
        )
    try:
        request = CreateEventRequest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()[:3]
        )
        raise InvalidRecord(
            "ERROR_INVALID_ARGUMENT", f"not a CreateEventRequest: {problems}"
        ) from None
    return Submission(
        webhook_id=request.webhook_id, data=request.data, access_key=request.access_key
    )


def signing_input(webhook_id: str, body: bytes) -> bytes:
    """What the intake signs: the webhook id and the body, so neither can be swapped."""
    return webhook_id.encode() + b"\n" + body


def event_id_for(position: Position, index: int) -> str:
    """`event-` + 24 hex of the record's position: the same record always gives the same ids."""
    text = f"{position.topic}:{position.partition}:{position.offset}:{index}"
    return "event-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_error_event(webhook_id: str, webhook_name: str, error: ParseError) -> ParsedEvent:
    """SPEC §4.3: a payload the parser cannot read becomes one ERROR event saying why."""
    return ParsedEvent(
        event_key=f"{webhook_id}:parse-error",
        event_type=EventType.ERROR,
        severity=Severity.CRITICAL,
        title=f"Webhook Event Parsing Error - {webhook_name}",
        description=error.message,
    )


def to_events(
    parsed: Sequence[ParsedEvent],
    *,
    payload: Any,
    position: Position,
    created_at: datetime,
    webhook_id: str,
    project_id: str,
    domain_id: str,
) -> list[EventInfo]:
    """Stamp parser output with ids, the raw payload, the webhook's project and domain."""
    raw_data = payload if isinstance(payload, dict) else {"data": payload}
    return [
        EventInfo(
            **event.model_dump(),
            event_id=event_id_for(position, index),
            raw_data=raw_data,
            webhook_id=webhook_id,
            project_id=project_id,
            domain_id=domain_id,
            created_at=created_at,
        )
        for index, event in enumerate(parsed)
    ]
