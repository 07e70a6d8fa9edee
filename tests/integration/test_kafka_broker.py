"""The broker is a real Kafka: produce with acks=all, consume in a group, commit."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.settings import Settings


async def test_produce_consume_round_trip(settings: Settings, unique_name: str) -> None:
    options = settings.kafka.client_options()
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(unique_name, num_partitions=3, replication_factor=1)])
        sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(50)}
        producer = AIOKafkaProducer(**options, acks="all")
        await producer.start()
        try:
            for key, value in sent.items():
                await producer.send(unique_name, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            unique_name,
            **options,
            group_id=unique_name,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: dict[bytes, bytes] = {}
        partitions: set[int] = set()
        try:
            async with asyncio.timeout(60):
                while len(received) < len(sent):
                    batch = await consumer.getmany(timeout_ms=1000)
                    for tp, records in batch.items():
                        partitions.add(tp.partition)
                        received.update({r.key: r.value for r in records})
            await consumer.commit()
            committed = 0
            for tp in consumer.assignment():
                committed += await consumer.committed(tp) or 0
        finally:
            await consumer.stop()
        assert received == sent
        assert len(partitions) > 1, "keys should spread over the topic's partitions"
        assert committed == len(sent)
    finally:
        await admin.delete_topics([unique_name])
        await admin.close()
