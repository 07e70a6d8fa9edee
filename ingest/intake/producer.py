"""The intake's Kafka producer: records onto `events.raw`, acks=all, never hanging.

Kafka unreachable, or too slow to acknowledge within `kafka_timeout_seconds` (its buffer
full), fails the send so the request is answered 503 with Retry-After and the sender
retries. A 503 after a timeout is ambiguous, as any timeout is: the record may still
land, and the sender's retry then adds a second copy (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ingest.kafka.produce import SEND_ERRORS, LazyProducer, cluster_metadata, kafka_away
from schemas.settings import Settings
from schemas.topics import HEADER_SIGNATURE, HEADER_WEBHOOK

log = logging.getLogger("eventpipe.intake")


class KafkaUnavailable(Exception):
    """Kafka failed moments ago and has not answered since: the record was not handed over."""


class RawProducer:
    """One idempotent, acks=all producer for `events.raw`, started on first use.

    A send that fails or times out marks Kafka down: until a metadata request succeeds
    again (probed every half second), sends fail at once with KafkaUnavailable without
    handing the record to the producer. Those 503s are unambiguous (the record will
    never land), so a retrying sender duplicates only the records that were in flight
    when Kafka went away, not everything it sent during the outage.
    """

    PROBE_SECONDS = 0.5

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = LazyProducer(
            settings.kafka,
            linger_ms=1,
            # Records are keyed by webhook, so a busy webhook fills one partition's batch:
            # a large batch keeps concurrent requests from queueing behind it.
            max_batch_size=1024 * 1024,
            # Shorter than the request's own bound: a record still waiting in the buffer
            # expires unsent (KafkaTimeoutError) before the sender gets 503.
            request_timeout_ms=int(settings.ingest.kafka_timeout_seconds * 750),
        )
        self._probe: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        return self._probe is not None

    async def send(self, webhook_id: str, body: bytes, signature: str) -> None:
        """Return once Kafka has the record; TimeoutError past `kafka_timeout_seconds`,
        KafkaUnavailable at once while Kafka is known to be down."""
        if self._probe is not None:
            raise KafkaUnavailable("Kafka was unreachable and has not answered since")
        try:
            async with asyncio.timeout(self._settings.ingest.kafka_timeout_seconds):
                producer = await self._producer.get()
                await producer.send_and_wait(
                    self._settings.topics.raw,
                    value=body,
                    key=webhook_id.encode(),
                    headers=[
                        (HEADER_WEBHOOK, webhook_id.encode()),
                        (HEADER_SIGNATURE, signature.encode()),
                    ],
                )
        except SEND_ERRORS as error:
            # Only Kafka being away trips it, not a refusal of this one record.
            if kafka_away(error) and self._probe is None:
                self._probe = asyncio.create_task(self._probe_until_up(), name="kafka probe")
            raise

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(self.PROBE_SECONDS)
            if await self.reachable():
                log.info("kafka reachable again: the intake hands records over again")
                self._probe = None
                return

    async def reachable(self) -> bool:
        """True when a broker answers a metadata request within a few seconds."""
        return await self.metadata() is not None

    async def metadata(self) -> Any | None:
        """The cluster's metadata (aiokafka's ClusterMetadata: brokers, partitions with
        their leaders and in-sync replicas), or None when no broker answers within 3 s."""
        try:
            async with asyncio.timeout(3):
                return await cluster_metadata(await self._producer.get())
        except Exception:
            return None

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        await self._producer.stop()
