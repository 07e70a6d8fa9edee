"""Every producer eventpipe makes (`start_producer`, `LazyProducer`), and producing a whole
batch of records at once: one Kafka record batch per partition.

Every producer is idempotent with acks=all: a record is acknowledged once every in-sync
replica has it, and a retried send never duplicates or reorders it.

A batch of parsed events is produced, then waited for as a whole, before the batch of
raw records it came from is acked. Sending them one by one through the faust topic
costs a future, a pending message and a partitioner call per record; here each
partition's records go into one `BatchBuilder` and are acknowledged together
(aiokafka's `create_batch`/`send_batch`).

Keyed records land where Kafka's default partitioner puts them (murmur2 of the key),
the same partition faust's own producer would choose: the correlation table relies on
a key's events and its state sharing a partition.
"""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from schemas.settings import KafkaSettings

Headers = list[tuple[str, bytes]]
# key (None: any partition), value (None: a tombstone), headers
Record = tuple[bytes | None, bytes | None, Headers]


# What a send may fail with: Kafka's errors, the network's, a deadline.
SEND_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)


def kafka_away(error: BaseException) -> bool:
    """Whether a failed send says Kafka is away (down, unreachable, too slow), not that it
    refused this one record."""
    if isinstance(error, TimeoutError | OSError | KafkaTimeoutError):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)


def too_large(error: BaseException) -> bool:
    """Whether Kafka refused a record for its size (it never will take it)."""
    return isinstance(error, MessageSizeTooLargeError)


def new_producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """The one way a producer is made: the settings' connection, acks=all, idempotent."""
    return AIOKafkaProducer(
        **kafka.client_options(), acks="all", enable_idempotence=True, **options
    )


async def start_producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """A started producer; stopped again when starting fails or is cancelled."""
    producer = new_producer(kafka, **options)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


async def cluster_answers(producer: AIOKafkaProducer) -> bool:
    """True when a broker answers a metadata request now (not the producer's cache)."""
    return bool(await producer.client.fetch_all_metadata())


class LazyProducer:
    """A producer started on first use, once for all callers; `stop` closes it (the next
    use starts another)."""

    def __init__(self, kafka: KafkaSettings, **options: Any) -> None:
        self._kafka = kafka
        self._options = options
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    @property
    def started(self) -> AIOKafkaProducer | None:
        return self._producer

    async def get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                self._producer = await start_producer(self._kafka, **self._options)
        return self._producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_HASHES: dict[bytes, int] = {}
HASHES_KEPT = 20_000


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (Java's `Utils.murmur2`), the same value as aiokafka's pure-Python
    one at about a quarter of its cost: the words are unpacked by `struct`, and only the
    masks that change the result are kept (tests compare the two on random keys)."""
    length = len(data)
    h = 0x9747B28C ^ length
    end = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:end]):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[end + 2] << 16
    if extra >= 2:
        h ^= data[end + 1] << 8
    if extra:
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner for a keyed record (Java client, aiokafka, faust).

    Alert keys repeat (the same alerts fire again and again): the hashes of the latest
    HASHES_KEPT keys are kept.
    """
    h = _HASHES.get(key)
    if h is None:
        if len(_HASHES) >= HASHES_KEPT:
            _HASHES.clear()
        h = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return h % partitions


class BatchProducer:
    """Send records grouped into one record batch per partition; wait for every ack."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._unkeyed = 0  # round robin for records without a key

    async def partition_count(self, topic: str) -> int:
        """The topic's partitions, from the producer's metadata (kept fresh by aiokafka:
        partitions added later count)."""
        return len(await self._producer.partitions_for(topic))

    async def send_all(self, topic: str, records: Sequence[Record]) -> None:
        """Produce every record to `topic`; returns once the broker acknowledged all."""
        if not records:
            return
        partitions = sorted(await self._producer.partitions_for(topic))
        by_partition: dict[int, list[Record]] = defaultdict(list)
        seen: dict[bytes, int] = {}
        for record in records:
            key = record[0]
            if key is None:
                self._unkeyed += 1
                by_partition[partitions[self._unkeyed % len(partitions)]].append(record)
                continue
            index = seen.get(key)
            if index is None:
                index = seen[key] = partition_for(key, len(partitions))
            by_partition[partitions[index]].append(record)
        await self.send_to_partitions(topic, by_partition)

    async def send_to_partitions(
        self, topic: str, by_partition: Mapping[int, Sequence[Record]]
    ) -> None:
        """Produce each partition's records, in order, as few record batches as fit;
        returns once the broker acknowledged all."""
        acks = []
        for partition, items in by_partition.items():
            batch = self._producer.create_batch()
            for key, value, headers in items:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    batch.close()
                    acks.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"a record of {len(value or b'')} bytes exceeds a batch")
            batch.close()
            acks.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*acks)
