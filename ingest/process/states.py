"""Step 4 of the worker: store each correlation key's new state in the table and its
changelog, and forget keys that went quiet.

faust would send one changelog record per table write, each its own future, and not wait
for them; here a batch's states go out together and are acknowledged before the batch
is. The records are what faust's table codecs read (raw key, JSON value), so its
recovery reads them back into the table as its own. One writer at a time keeps a key's
changelog records in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from ingest.kafka.produce import Record
from ingest.process.correlate import State, is_quiet, load_state
from ingest.process.normalize import NormalizedEvent, Position
from ingest.process.sink import RecordSink
from ingest.retry import retry

SCAN_CHUNK = 2000


def encode_state(state: State) -> bytes:
    """A key's state as the table and its changelog hold it: JSON bytes (what faust's json
    value codec reads back on recovery).

    Copied to its own size: a bytes object from orjson keeps the 4 KiB capacity of its
    write buffer, ten times a state's size, and the table holds one per live key.
    """
    return bytes(memoryview(orjson.dumps(state)))


def changelog_partitions(
    events: Sequence[NormalizedEvent], where: Sequence[Position]
) -> dict[bytes, int]:
    """A key's events all came on one partition: its state goes to that changelog partition."""
    return {event.key.encode(): at.partition for event, at in zip(events, where, strict=True)}


class StateStore:
    """The correlation table's local store and its changelog topic, written together.

    `local` gives the store's mapping (looked up at each use: faust owns it).
    """

    def __init__(
        self,
        local: Callable[[], MutableMapping[bytes, Any]],
        changelog: str,
        out: RecordSink,
        stopping: Callable[[], bool],
    ) -> None:
        self._local = local
        self.changelog = changelog
        self._out = out
        self._stopping = stopping
        self._lock = asyncio.Lock()

    @property
    def table(self) -> MutableMapping[bytes, Any]:
        """The states as correlation reads them."""
        return self._local()

    async def write(
        self, states: Mapping[bytes, bytes], partitions: Mapping[bytes, int] | None = None
    ) -> None:
        """Store each key's new state (JSON bytes); return once Kafka acknowledged them.
        With `partitions`, each goes to the partition of its key's events (no hashing);
        without, partitioned by key, as faust would."""
        if not states:
            return
        self._local().update(states)
        out, changelog = self._out, self.changelog
        if partitions is None:
            records: list[Record] = [(key, value, []) for key, value in states.items()]
            send = lambda: out.send_all(changelog, records)  # noqa: E731
        else:
            grouped: dict[int, list[Record]] = {}
            for key, value in states.items():
                grouped.setdefault(partitions[key], []).append((key, value, []))
            send = lambda: out.send_to_partitions(changelog, grouped)  # noqa: E731
        async with self._lock:  # one writer keeps a key's records in order
            await retry(send, "writing the changelog", self._stopping)

    async def forget_quiet(self, horizon: datetime, now: datetime | None = None) -> int:
        """Drop the state of keys nothing touched since `horizon` and whose deliveries no
        retry at `now` can match any more (`correlate.is_quiet`); tombstones in the changelog.

        The scan yields to the event loop every `SCAN_CHUNK` keys, so a large table never
        holds batches up; a key a batch rewrote meanwhile (a new value object) is kept.
        """
        store = self._local()
        candidates: list[tuple[bytes, Any]] = []
        for n, (key, value) in enumerate(list(store.items()), 1):
            state = load_state(value)
            if state is not None and is_quiet(state, horizon, now):
                candidates.append((key, value))
            if n % SCAN_CHUNK == 0:
                await asyncio.sleep(0)
        out, changelog = self._out, self.changelog
        async with self._lock:  # no state record of these keys can overtake
            quiet = [key for key, seen in candidates if store.get(key) is seen]
            for key in quiet:
                del store[key]
            tombstones: list[Record] = [(key, None, []) for key in quiet]
            await retry(lambda: out.send_all(changelog, tombstones),
                        "writing the changelog", self._stopping)  # fmt: skip
        return len(quiet)
