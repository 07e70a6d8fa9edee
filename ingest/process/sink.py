"""Where the worker's steps put records: Kafka in production (`ingest.kafka.produce.
BatchProducer`), a list in tests. A step needs only these three calls, so every step runs
without a broker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ingest.kafka.produce import Record


class RecordSink(Protocol):
    """Records out, each call returning once all of them are acknowledged."""

    async def partition_count(self, topic: str) -> int: ...

    async def send_all(self, topic: str, records: Sequence[Record]) -> None: ...

    async def send_to_partitions(
        self, topic: str, by_partition: Mapping[int, Sequence[Record]]
    ) -> None: ...
