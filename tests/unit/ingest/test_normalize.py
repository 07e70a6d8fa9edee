"""Raw records become events: envelope decoding, deterministic ids, SPEC §4 stamping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.process.normalize import (
    HEADER_SIGNATURE,
    HEADER_WEBHOOK,
    MAX_RECORD_BYTES,
    InvalidRecord,
    Position,
    content_of,
    decode_events,
    decode_record,
    dump_json,
    encode_events,
    event_id_for,
    load_json,
    parse_error_event,
    record_origin,
    to_events,
    with_alert_id,
)
from schemas.event import EventInfo, EventType, ParsedEvent, Severity
from schemas.parser import ParseError

POSITION = Position("events.raw", 2, 41)
AT = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
ORIGIN = record_origin("cluster-a", POSITION, AT)


def test_intake_record_carries_webhook_and_signature_in_headers() -> None:
    body = b'{"alerts": []}'
    sub = decode_record(body, {HEADER_WEBHOOK: b"webhook-1", HEADER_SIGNATURE: b"abc"})
    assert (sub.webhook_id, sub.signature, sub.access_key) == ("webhook-1", "abc", None)
    assert sub.data == {"alerts": []} and sub.signed_bytes == body


def test_direct_record_is_a_create_event_request() -> None:
    value = json.dumps({"webhook_id": "webhook-1", "access_key": "k", "data": [1]}).encode()
    sub = decode_record(value, {})
    assert (sub.webhook_id, sub.access_key, sub.data, sub.signature) == (
        "webhook-1",
        "k",
        [1],
        None,
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "ERROR_EMPTY_RECORD"),
        (b"\xff\xfe", "ERROR_NOT_JSON"),
        (b"{not json", "ERROR_NOT_JSON"),
        (b'{"webhook_id": "w"}', "ERROR_INVALID_ARGUMENT"),
        (b"[1, 2]", "ERROR_INVALID_ARGUMENT"),
    ],
)
def test_unreadable_records_are_invalid(value: bytes | None, code: str) -> None:
    with pytest.raises(InvalidRecord) as error:
        decode_record(value, {})
    assert error.value.code == code


def test_event_ids_are_deterministic_per_record_and_index() -> None:
    first = event_id_for(ORIGIN, 0)
    # A replay reads the same record: the same cluster, position and timestamp.
    replayed = record_origin("cluster-a", Position("events.raw", 2, 41), AT.astimezone())
    assert first == event_id_for(replayed, 0)
    assert first.startswith("event-") and len(first) == 6 + 24
    others = {
        event_id_for(ORIGIN, 1),
        event_id_for(record_origin("cluster-a", Position("events.raw", 2, 42), AT), 0),
        event_id_for(record_origin("cluster-a", Position("events.raw", 3, 41), AT), 0),
        event_id_for(record_origin("cluster-a", Position("other.raw", 2, 41), AT), 0),
        # a new cluster, or the topic made again: offsets start over, ids do not come back
        event_id_for(record_origin("cluster-b", POSITION, AT), 0),
        event_id_for(record_origin("cluster-a", POSITION, AT + timedelta(milliseconds=1)), 0),
    }
    assert first not in others and len(others) == 6


def test_to_events_stamps_webhook_payload_and_time() -> None:
    created = datetime(2024, 5, 1, tzinfo=UTC)
    parsed = [ParsedEvent(event_key="a", title=" A "), ParsedEvent(event_key="b")]
    stamp = {"webhook_id": "webhook-1", "project_id": "project-1", "domain_id": "domain-1"}
    events = to_events(parsed, payload={"x": 1}, origin=ORIGIN, created_at=created, **stamp)
    assert [e.event_id for e in events] == [event_id_for(ORIGIN, 0), event_id_for(ORIGIN, 1)]
    docs = [json.loads(e.doc) for e in events]
    assert all(d["raw_data"] == {"x": 1} and d["domain_id"] == "domain-1" for d in docs)
    assert docs[0]["title"] == "A" and docs[0]["created_at"] == "2024-05-01T00:00:00.000Z"
    assert events[0].key == "domain-1\x1fproject-1\x1fa"
    assert (events[0].event_type, events[0].severity) == ("ALERT", "NONE")
    assert events[0].created_at == "2024-05-01T00:00:00.000Z"
    wrapped = to_events(parsed[:1], payload=[1, 2], origin=ORIGIN, created_at=created,
                        webhook_id="w", project_id="p", domain_id="d")  # fmt: skip
    assert json.loads(wrapped[0].doc)["raw_data"] == {"data": [1, 2]}


def test_a_document_is_an_event_info_in_its_field_order() -> None:
    parsed = ParsedEvent(
        event_key="k", title="t", severity="CRITICAL", occurred_at="2024-05-01T01:02:03.4+02:00",
        resource={"resource_id": "r", "name": "n"}, additional_info={"a": [1, {"b": None}]},
    )  # fmt: skip
    (event,) = to_events([parsed], payload={"p": 1.5}, origin=ORIGIN,
                         created_at=datetime(2024, 5, 1, tzinfo=UTC),
                         webhook_id="w", project_id="p", domain_id="d")  # fmt: skip
    doc = json.loads(event.doc)
    stamped = ["event_id", "alert_id", "created_at"]  # per record, after the content
    assert list(doc) == [f for f in EventInfo.model_fields if f not in stamped] + stamped
    expected = EventInfo.model_validate({**doc}).model_dump(mode="json")
    assert doc == expected and doc["occurred_at"] == "2024-04-30T23:02:03.400Z"


def test_events_travel_many_to_a_record_and_come_back_the_same() -> None:
    parsed = [ParsedEvent(event_key=f"k{i}", title="x" * 300) for i in range(300)]
    events = to_events(parsed, payload={"big": "y" * 2000}, origin=ORIGIN,
                       created_at=datetime(2024, 5, 1, tzinfo=UTC),
                       webhook_id="w", project_id="p", domain_id="d")  # fmt: skip
    values = encode_events(events)
    assert len(values) > 1 and all(len(v) <= MAX_RECORD_BYTES for v in values)
    assert [e for v in values for e in decode_events(v)] == events
    with pytest.raises(InvalidRecord):
        decode_events(b"only one line")
    with pytest.raises(InvalidRecord):
        decode_events(b"[1]\n{}")


def test_the_alert_id_is_set_without_decoding_the_document() -> None:
    raw = {"alert_id": "", "nested": {"alert_id": ""}, "text": '"alert_id":""'}
    (event,) = to_events([ParsedEvent(event_key="k")], payload=raw, origin=ORIGIN,
                         created_at=datetime(2024, 5, 1, tzinfo=UTC),
                         webhook_id="w", project_id="p", domain_id="d")  # fmt: skip
    doc = json.loads(with_alert_id(event.doc, 'alert-"1'))
    assert doc["alert_id"] == 'alert-"1' and doc["raw_data"] == raw
    assert with_alert_id(event.doc, "") == event.doc


def test_json_orjson_refuses_reads_as_the_standard_library_reads_it() -> None:
    value = load_json(b'{"nan": NaN, "small": 18446744073709551615}')
    assert value["nan"] != value["nan"]
    assert value["small"] == 2**64 - 1 and isinstance(value["small"], int)
    assert json.loads(dump_json({"big": 2**70})) == {"big": 2**70}


def test_an_integer_beyond_64_bits_reads_as_the_nearest_float() -> None:
    # The documented limit of load_json (orjson's reading); 2**70 == float(2**70) in
    # Python, so the type is what tells.
    value = load_json(b'{"big": 1180591620717411303424}')
    assert isinstance(value["big"], float) and value["big"] == 2.0**70


def test_parse_failure_becomes_one_error_event() -> None:
    event = parse_error_event("webhook-1", "prod alerts", ParseError("no 'alerts' list"))
    assert event.event_type == EventType.ERROR and event.severity == Severity.CRITICAL
    assert event.title == "Webhook Event Parsing Error - prod alerts"
    assert event.description == "no 'alerts' list"


def test_a_record_of_the_previous_one_event_format_still_reads() -> None:
    event = EventInfo(event_id="event-1", event_key="k", severity="ERROR", project_id="p",
                      domain_id="d", created_at=datetime(2024, 5, 1, tzinfo=UTC))  # fmt: skip
    (read,) = decode_events(event.model_dump_json().encode())
    assert read.key == "d\x1fp\x1fk" and read.event_id == "event-1"
    assert (read.event_type, read.severity) == ("ALERT", "ERROR")
    assert json.loads(with_alert_id(read.doc, "alert-1")) == {
        **event.model_dump(mode="json"),
        "alert_id": "alert-1",
    }
    with pytest.raises(InvalidRecord):
        decode_events(b'{"event_id": 1}')


def stamp(parsed: list[ParsedEvent], payload: object, *, origin: str = ORIGIN,
          at: datetime = AT, webhook_id: str = "w", window: float = 600) -> list:  # fmt: skip
    return to_events(parsed, payload=payload, origin=origin, created_at=at,
                     webhook_id=webhook_id, project_id="p", domain_id="d",
                     duplicate_window=window)  # fmt: skip


def test_the_content_is_the_document_but_event_id_alert_id_and_created_at() -> None:
    raw = {"event_id": "x", "created_at": "y", "s": ',"event_id":"z"'}
    (event,) = stamp([ParsedEvent(event_key="k", title="t")], raw)
    content = json.loads(content_of(event.doc) + b"}")
    assert content == {k: v for k, v in json.loads(event.doc).items()
                       if k not in ("event_id", "alert_id", "created_at")}  # fmt: skip
    assert content["raw_data"] == raw


def test_fingerprints_are_equal_for_a_resent_payload_only() -> None:
    parsed = [ParsedEvent(event_key="k", title="t"), ParsedEvent(event_key="j", title="t")]
    first = stamp(parsed, {"a": 1})
    # Sent again: another record (offset, time), the same content.
    resent = stamp(parsed, {"a": 1}, at=AT + timedelta(minutes=3),
                   origin=record_origin("cluster-a", Position("events.raw", 0, 7), AT))  # fmt: skip
    assert [e.fingerprint for e in first] == [e.fingerprint for e in resent]
    assert [e.event_id for e in first] != [e.event_id for e in resent]
    assert first[0].fingerprint != first[1].fingerprint and first[0].window == 600
    different = [
        stamp([parsed[0]], {"a": 2}),  # the raw payload is part of the event
        stamp([ParsedEvent(event_key="k", title="t2")], {"a": 1}),
        stamp([parsed[0]], {"a": 1}, webhook_id="w2"),  # another webhook
        stamp([ParsedEvent(event_key="k", title="t", severity="CRITICAL")], {"a": 1}),
    ]
    assert len({first[0].fingerprint, *(e.fingerprint for (e,) in different)}) == 5
    (off,) = stamp([parsed[0]], {"a": 1}, window=0)
    assert (off.fingerprint, off.window) == ("", 0)


def test_headers_without_fingerprints_still_read() -> None:
    (event,) = stamp([ParsedEvent(event_key="k")], {})
    old = json.dumps(list(event[:5])).encode() + b"\n" + event.doc
    assert decode_events(old) == [event._replace(fingerprint="", window=0.0)]
    assert decode_events(encode_events([event])[0]) == [event]
