"""A batch consumer on aiokafka: read a batch, hand it over whole, commit what it covered.

For stateless work (the parse stage) faust's per-record path costs more than the work
itself. Here each `getmany` batch goes to one handler call; the batch's offsets are
committed only after the handler returned, i.e. after its output was acknowledged. The
handler and the commit hold one lock, which a rebalance also takes before partitions are
revoked: a partition leaves this worker only between batches, with its last batch
committed, so a rebalance rereads little in the normal case. A crash before
the commit rereads the batch, which deterministic ids make harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = logging.getLogger("eventpipe.batch_consumer")

Handler = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]


class _FinishBatchFirst(ConsumerRebalanceListener):
    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._lock:  # the batch in hand is done and committed first
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass


class BatchConsumer:
    """Consume `topic` in group `group`, a batch of at most `max_records` at a time."""

    def __init__(
        self,
        topic: str,
        group: str,
        *,
        max_records: int,
        wait_seconds: float,
        **client_options: Any,
    ) -> None:
        self._topic = topic
        self._max_records = max_records
        self._wait_ms = int(wait_seconds * 1000)
        self._options: dict[str, Any] = {
            "group_id": group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            # A crashed worker's partitions move to the others after 10 s.
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 2_000,
            **client_options,
        }
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Join the group (the client is made here: aiokafka needs the running loop)."""
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(**self._options)
        self._consumer.subscribe([self._topic], listener=_FinishBatchFirst(self._lock))
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def highwater(self, tp: TopicPartition) -> int | None:
        """The partition's end as last fetched; None when not known, or when a rebalance
        took the partition away meanwhile (aiokafka asserts it is assigned)."""
        consumer = self._consumer
        if consumer is None or tp not in consumer.assignment():
            return None
        return consumer.highwater(tp)

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the batch consumer is not started")
        return self._consumer

    async def run(self, handle: Handler) -> None:
        """Fetch, handle and commit batches until cancelled."""
        while True:
            # Not under the lock: while a rebalance is under way, aiokafka's getmany waits
            # for the new assignment, which waits for the revocation, which waits for the
            # lock. Records fetched just before a revocation are handled all the same (the
            # new owner reads them again: harmless) and their commit is left out if the
            # partition is no longer ours.
            batches = await self._gather()
            records = [record for tp_records in batches.values() for record in tp_records]
            if not records:
                continue
            async with self._lock:
                offsets = {tp: tp_records[-1].offset + 1 for tp, tp_records in batches.items()}
                try:
                    await handle(records)
                except asyncio.CancelledError:
                    # Stopped, but the handler finished its batch first (else the process
                    # has exited): commit it, so a restart does not read it again.
                    await self._commit(offsets)
                    raise
                await self._commit(offsets)

    async def _gather(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to `max_records`, waiting at most `wait_seconds` after the first arrives (as
        faust's `take(within=)`): a trickle of records still makes batches, not one
        output record per input record."""
        batches = await self.consumer.getmany(
            timeout_ms=self._wait_ms, max_records=self._max_records
        )
        count = sum(map(len, batches.values()))
        if 0 < count < self._max_records:
            await asyncio.sleep(self._wait_ms / 1000)
            more = await self.consumer.getmany(timeout_ms=0, max_records=self._max_records - count)
            for tp, tp_records in more.items():
                batches.setdefault(tp, []).extend(tp_records)
        return batches

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit after the handler; a commit refused by a rebalance leaves the batch to be
        read again by the partition's next owner (harmless: deterministic ids)."""
        mine = self.consumer.assignment()
        owned = {tp: offset for tp, offset in offsets.items() if tp in mine}
        if not owned:
            return
        try:
            await self.consumer.commit(owned)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning(
                "commit refused after a rebalance (%s): the batch will be read again", error
            )
        except KafkaError as error:
            log.warning("commit failed (%s): the next commit covers it", error)
