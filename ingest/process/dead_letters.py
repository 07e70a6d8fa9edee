"""Step 6 of the worker: records that will never become events go to `events.dlq`, the
original bytes as they came and why in the headers (SPEC §4; `schemas.topics` declares them).

Any step can end a record here: parse (unreadable, unauthenticated), route (a record of
`events.normalized` that does not decode) and index (a document Elasticsearch refuses for
good). The letters of a batch are produced together, and acknowledged before the batch is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.kafka.produce import Record
from ingest.metrics import DEAD_LETTERS
from ingest.process.normalize import Position
from ingest.process.sink import RecordSink
from ingest.retry import retry
from schemas.topics import (
    HEADER_ERROR_CODE,
    HEADER_ERROR_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)

REASON_BYTES = 4096


@dataclass(frozen=True)
class DeadLetter:
    """A record that will never become events, with why (an ERROR_* code and a sentence)."""

    position: Position
    value: bytes | None
    code: str
    reason: str


# A dead letter and the key its record goes out with (its source record's, or its event's).
KeyedLetter = tuple[bytes | None, DeadLetter]


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [
        (HEADER_ERROR_CODE, letter.code.encode()),
        (HEADER_ERROR_REASON, letter.reason.encode()[:REASON_BYTES]),
        (HEADER_SOURCE_TOPIC, letter.position.topic.encode()),
        (HEADER_SOURCE_PARTITION, str(letter.position.partition).encode()),
        (HEADER_SOURCE_OFFSET, str(letter.position.offset).encode()),
    ]


def dead_letter_record(key: bytes | None, letter: DeadLetter) -> Record:
    """The events.dlq record of a dead letter: the original bytes, why in the headers."""
    return (key, letter.value or b"", dead_letter_headers(letter))


async def send_dead_letters(
    out: RecordSink, topic: str, letters: Sequence[KeyedLetter], stopping: Callable[[], bool]
) -> None:
    """Produce the letters (waiting for Kafka while it is away); counted by code."""
    if not letters:
        return
    records = [dead_letter_record(key, letter) for key, letter in letters]
    await retry(lambda: out.send_all(topic, records), "producing dead letters", stopping)
    for _, letter in letters:
        DEAD_LETTERS.labels(letter.code).inc()
