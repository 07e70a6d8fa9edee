"""From a record of `events.raw` to EventInfo documents (SPEC §4 steps 2-4). Pure.

A record is either what the HTTP intake wrote — the sender's body as is, with
the webhook id and an HMAC signature in headers — or what a direct producer
wrote: a CreateEventRequest JSON carrying the access key. Event ids derive from
the record itself (`record_origin`: the Kafka cluster's id, topic, partition, offset and
timestamp, and the index in the payload), so a replayed record yields the same ids and
Elasticsearch refuses the duplicates, while a new cluster or a topic made again, whose
offsets start over, never reuses an id already indexed. Each event also carries the
fingerprint of its content (`ingest.process.dedup`), for retried deliveries (SPEC §4.6).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from ingest.process.dedup import content_fingerprint
from ingest.process.rules import RuleFunction, apply_rules
from schemas.event import EventInfo, EventType, ParsedEvent, Severity, format_timestamp
from schemas.messages import CreateEventRequest
from schemas.parser import ParseError
from schemas.topics import HEADER_SIGNATURE, HEADER_WEBHOOK

DIRECT_FIELDS = set(CreateEventRequest.model_fields)


class InvalidRecord(Exception):
    """A record that can never become events: it goes to the dead-letter topic with `reason`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Submission(NamedTuple):
    """Who sent a record and what: checked by signature (intake) or by access key (direct)."""

    webhook_id: str
    data: Any
    access_key: str | None = None
    signature: str | None = None
    signed_bytes: bytes = b""


class Position(NamedTuple):
    """Where a record sits in Kafka: what event ids and dead letters are derived from."""

    topic: str
    partition: int
    offset: int


class NormalizedEvent(NamedTuple):
    """An event on its way to correlation: what correlation reads, and the document as JSON.

    `key` is the correlation key (domain, project, event key joined by US), which also
    decides the event's partition of `events.normalized`. `fingerprint` is the hash of
    the event's content and `window` its webhook's duplicate window in seconds (SPEC §4.6;
    "" and 0 when off): a later identical event within it is a sender's retry. `rules` is
    what event rules set for the alert the event may open (`ingest.process.rules`), None
    when nothing.
    """

    key: str
    event_id: str
    event_type: str
    severity: str
    created_at: str
    doc: bytes
    fingerprint: str = ""
    window: float = 0.0
    rules: dict[str, Any] | None = None


def decode_record(value: bytes | None, headers: Mapping[str, bytes]) -> Submission:
    """Read a raw record; InvalidRecord when it is not JSON or not a CreateEventRequest."""
    if value is None:
        raise InvalidRecord("ERROR_EMPTY_RECORD", "record has no value")
    try:
        data = load_json(value)
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
    if (
        type(data) is dict
        and data.keys() == DIRECT_FIELDS
        and type(data["webhook_id"]) is str
        and type(data["access_key"]) is str
        and data["webhook_id"]
        and data["access_key"]
    ):  # what CreateEventRequest accepts, without building it (most records are this)
        return Submission(data["webhook_id"], data["data"], access_key=data["access_key"])
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


def record_origin(cluster_id: str, position: Position, timestamp: datetime) -> str:
    """What identifies a record beyond one topic's lifetime: the id of the Kafka cluster
    it was read from, its topic, partition and offset, and its timestamp (milliseconds).

    Offsets start over in a new cluster or a topic deleted and made again; the cluster id
    tells clusters apart, the timestamp the lives of one topic (Kafka's topic ids are not
    in the metadata aiokafka reads). A replay reads the same record: the same origin.
    """
    millis = round(timestamp.timestamp() * 1000)
    return f"{cluster_id}:{position.topic}:{position.partition}:{position.offset}:{millis}"


def event_id_for(origin: str, index: int) -> str:
    """`event-` + 24 hex of the record's origin and the event's index in its payload: the
    same record always gives the same ids."""
    return "event-" + hashlib.sha256(f"{origin}:{index}".encode()).hexdigest()[:24]


def parse_error_event(webhook_id: str, webhook_name: str, error: ParseError) -> ParsedEvent:
    """SPEC §4.3: a payload the parser cannot read becomes one ERROR event saying why."""
    return ParsedEvent(
        event_key=f"{webhook_id}:parse-error",
        event_type=EventType.ERROR,
        severity=Severity.CRITICAL,
        title=f"Webhook Event Parsing Error - {webhook_name}",
        description=error.message,
    )


@functools.lru_cache(maxsize=4096)
def created_text(created_at: datetime) -> str:
    """created_at as stored; records of a batch mostly share their millisecond."""
    return format_timestamp(created_at)


def correlation_key(domain_id: str, project_id: str, event_key: str) -> str:
    """The key events are partitioned and correlated by: domain, project and event key."""
    return f"{domain_id}\x1f{project_id}\x1f{event_key}"


def event_document(
    event: ParsedEvent,
    *,
    event_id: str,
    raw_data: dict[str, Any],
    webhook_id: str,
    project_id: str,
    domain_id: str,
    created_at: str,
) -> dict[str, Any]:
    """The EventInfo document of a parsed event, as JSON-ready values: its content in
    EventInfo's field order, then what is stamped on it per record — `event_id`,
    `alert_id` (left empty for correlation to fill) and `created_at` — last, so that the
    content is the document's first bytes (`content_of`).

    Built field by field from the model the parser validated: the event is validated once,
    where the parser returns it, and never again on its way to Elasticsearch.
    """
    resource = event.resource
    return {
        "event_key": event.event_key,
        "event_type": event.event_type,
        "title": event.title,
        "description": event.description,
        "severity": event.severity,
        "rule": event.rule,
        "resource": {
            "resource_id": resource.resource_id,
            "resource_type": resource.resource_type,
            "name": resource.name,
        },
        "provider": event.provider,
        "account": event.account,
        "image_url": event.image_url,
        "occurred_at": format_timestamp(event.occurred_at) if event.occurred_at else None,
        "additional_info": event.additional_info,
        "raw_data": raw_data,
        "webhook_id": webhook_id,
        "project_id": project_id,
        "domain_id": domain_id,
        "event_id": event_id,
        "alert_id": "",
        "created_at": created_at,
    }


EVENT_ID_SLOT = b',"event_id":'


def content_of(doc: bytes) -> bytes:
    """The bytes of an `event_document` that make two events identical (SPEC §4.6): all
    but event_id, alert_id and created_at, which follow the content.

    Only strings follow the top-level event_id, and a quote inside a JSON string is always
    escaped: its slot is the last one, whatever raw_data holds.
    """
    return doc[: doc.rindex(EVENT_ID_SLOT)]


def to_events(
    parsed: Sequence[ParsedEvent],
    *,
    payload: Any,
    origin: str,
    created_at: datetime,
    webhook_id: str,
    project_id: str,
    domain_id: str,
    duplicate_window: float = 0.0,
    rules: RuleFunction | None = None,
) -> list[NormalizedEvent]:
    """Stamp parser output with ids (from the record's `origin`), the raw payload, the
    webhook's project and domain; run the event rules on each (`ingest.process.rules`: the
    key follows their project); and, when the webhook's `duplicate_window` is on, take the
    fingerprint of each event's content."""
    raw_data = payload if isinstance(payload, dict) else {"data": payload}
    created = created_text(created_at)
    out = []
    for index, event in enumerate(parsed):
        event_id = event_id_for(origin, index)
        document = event_document(
            event, event_id=event_id, raw_data=raw_data, webhook_id=webhook_id,
            project_id=project_id, domain_id=domain_id, created_at=created,
        )  # fmt: skip
        outcome = apply_rules(document, rules)
        doc = dump_json(document)
        out.append(
            NormalizedEvent(
                key=correlation_key(domain_id, document["project_id"], event.event_key),
                event_id=event_id,
                event_type=event.event_type,
                severity=event.severity,
                created_at=created,
                doc=doc,
                fingerprint=content_fingerprint(content_of(doc)) if duplicate_window > 0 else "",
                window=duplicate_window,
                rules=outcome,
            )
        )
    return out


# ---- events.normalized: events travel a batch to a record ----------------------------------

MAX_RECORD_BYTES = 512 * 1024  # well under Kafka's default 1 MiB message limit


def encode_events(events: Sequence[NormalizedEvent]) -> list[bytes]:
    """The values of the `events.normalized` records carrying `events` (one partition's).

    Each event is two lines, a header `[key, event_id, event_type, severity, created_at,
    fingerprint, window]` (and the rules' outcome, when there is one) and the document: what
    correlation needs is read without decoding the document. A
    record holds whole events up to MAX_RECORD_BYTES (a larger event gets a record alone).
    """
    values: list[bytes] = []
    lines: list[bytes] = []
    size = 0
    for event in events:
        head = orjson.dumps([*event[:5], event.fingerprint, event.window]
                            + ([] if event.rules is None else [event.rules]))  # fmt: skip
        if lines and size + len(head) + len(event.doc) + 2 > MAX_RECORD_BYTES:
            values.append(b"\n".join(lines))
            lines, size = [], 0
        lines += (head, event.doc)
        size += len(head) + len(event.doc) + 2
    if lines:
        values.append(b"\n".join(lines))
    return values


def decode_events(value: bytes) -> list[NormalizedEvent]:
    """The events of one `events.normalized` record (InvalidRecord when it is not one).

    Documents stay bytes: the index stage writes them as they are, with the alert id set.
    A record of the one-event-per-record format (an EventInfo JSON object, what workers
    before this format wrote), or with five-field headers (before fingerprints), still
    reads, so an upgrade loses nothing in flight.
    """
    if value[:1] == b"{":
        return [legacy_event(value)]
    lines = value.split(b"\n")
    if len(lines) % 2:
        raise InvalidRecord("ERROR_INVALID_EVENT", "an events batch has an odd number of lines")
    out = []
    for i in range(0, len(lines), 2):
        try:
            head = orjson.loads(lines[i])
            out.append(NormalizedEvent(*head[:5], lines[i + 1], *head[5:7],
                                       rules=head[7] if len(head) > 7 else None))  # fmt: skip
        except (orjson.JSONDecodeError, TypeError) as error:
            raise InvalidRecord("ERROR_INVALID_EVENT", f"event header {i // 2}: {error}") from None
    return out


def legacy_event(value: bytes) -> NormalizedEvent:
    """One EventInfo JSON object, as the previous format carried one event per record."""
    try:
        event = EventInfo.model_validate_json(value)
    except ValidationError as error:
        raise InvalidRecord(
            "ERROR_INVALID_EVENT", f"not an EventInfo: {error.errors()[:2]}"
        ) from None
    doc = event.model_dump(mode="json")
    doc["alert_id"] = ""
    return NormalizedEvent(
        key=correlation_key(event.domain_id, event.project_id, event.event_key),
        event_id=event.event_id,
        event_type=event.event_type.value,
        severity=event.severity.value,
        created_at=doc["created_at"],
        doc=dump_json(doc),
    )


ALERT_ID_SLOT = b'"alert_id":""'


def with_alert_id(doc: bytes, alert_id: str) -> bytes:
    """The document with its alert id filled in, without decoding it.

    `event_document` leaves `"alert_id":""` after raw_data, followed only by created_at (a
    string): the last such slot is the top-level one, whatever raw_data holds (inside a
    JSON string a quote is always escaped).
    """
    if not alert_id:
        return doc
    at = doc.rindex(ALERT_ID_SLOT)
    return b'%s"alert_id":%s%s' % (doc[:at], orjson.dumps(alert_id), doc[at + len(ALERT_ID_SLOT) :])


def load_json(value: bytes) -> Any:
    """JSON at orjson's speed; what orjson refuses (NaN, lone surrogates) the standard
    library reads.

    An integer beyond 64 bits is not refused: orjson reads it as the nearest float (2**70
    becomes 1.1805916207174113e+21), so such a number in a payload is kept only to 16
    digits. Catching it first would cost about half of orjson's own time on every record
    (a scan for a run of 19 digits), for numbers no monitoring tool sends.
    """
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; integers beyond 64 bits fall back to the standard library."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
