"""Everything that reaches into faust-streaming's internals, in one module.

The rest of the worker uses faust's public API (App, Table, agents, timers, tasks) and the
names exported here; `tests/unit/ingest/test_faust_contract.py` checks each assumption
made about faust's internals and fails loudly when a faust release breaks one. Pinned to
faust-streaming 0.15.3; the two offset fixes below are also written as patches against
faust's own code in `docs/faust-patches/`, ready to propose upstream.

What is assumed:
- the `memory://` store keeps a table's local state in `table.data.data`, a plain dict
  (`local_store`): the index stage reads and writes it directly and sends the changelog
  itself, a batch at a time (`changelog_topic`);
- a changelog record is the raw key and the JSON value, which faust's recovery decodes
  into a dict;
- the aiokafka consumer's offset bookkeeping (`_acked`, `_acked_index`,
  `_committed_offset`, `_add_gap`, `_new_offset`, `perform_seek`) and the transport's
  `Consumer` class attribute (`DenseOffsetConsumer` below);
- the consumer thread's synchronous `seek` and its `call_thread`, so a seek runs where
  aiokafka fetches (`DenseOffsetConsumer._seek`);
- the monitor's per-message hooks (`LeanMonitor`) and the recovery's
  `active_remaining()` / `in_recovery` (`recovery_remaining`).

## The consumer: commit only offsets whose records were all processed

faust tracks the offsets a stream acked and commits the first consecutive run of them.
Two of its rules can commit past a record that was never processed, and both were seen
losing records of `events.raw` when a worker took over another's partitions:

- a jump in the offsets it reads is taken for a hole in the log (compaction,
  transaction markers) and the hole is marked as done. Our topics are neither
  compacted nor written in transactions, so their offsets are dense: a jump only
  means records fetched before a seek arrived after it (faust resumes fetching
  before it seeks to the committed offsets), and what lies in between may never
  have reached a stream;
- the check that the acked run starts at the committed offset is off by one and is
  skipped when that offset is unknown (0, never committed, or just after a
  revocation); a partition never committed is not even sought back after a
  rebalance, so records its stream skipped then were committed past (seen: a
  first commit of `events.raw` starting at offset 79).

Here the acked run must start exactly at the committed offset (the log's start for a
partition never committed); a jump is not a hole. A record that was dropped on the
way to a stream now holds the commit back instead of being skipped, and
`heal_stalls()`, called periodically, seeks such a partition back to its committed
offset so the record is read again (what follows it is read twice, which the
processor's deterministic ids make harmless).

`RecoveryWatch` tells a table recovery that stopped reading from a slow one, for the
worker to exit and be restarted rather than wait for good.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Iterable, Mapping, MutableMapping, Set
from typing import Any

import faust
from faust.sensors.monitor import Monitor
from faust.transport.consumer import ensure_TPset
from faust.transport.drivers.aiokafka import Consumer, Producer
from faust.types import TP
from faust.utils.functional import consecutive_numbers

from schemas.settings import KafkaSettings

log = logging.getLogger("eventpipe.consumer")


def broker_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for `faust.App(...)`: the broker URL and its credentials, from the
    same settings every aiokafka client reads."""
    options: dict[str, Any] = {"broker": kafka.faust_broker()}
    if kafka.uses_sasl:
        assert kafka.password is not None  # the settings' validator made sure
        options["broker_credentials"] = faust.SASLCredentials(
            username=kafka.username,
            password=kafka.password.get_secret_value(),
            ssl_context=kafka.ssl_context(),
            mechanism=kafka.sasl_mechanism,
        )
    elif kafka.uses_tls:
        options["broker_credentials"] = faust.SSLCredentials(kafka.ssl_context())
    return options


class DenseOffsetConsumer(Consumer):
    """The aiokafka consumer of faust, committing only a run that starts at the committed
    offset, for topics whose offsets have no holes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # Committed offsets of partitions being revoked: faust forgets them before the
        # last commit of the revocation, which must still start there.
        self._floor: dict[TP, int] = {}
        self._suspects: dict[TP, int] = {}

    def committed_floor(self, tp: TP) -> int | None:
        """The offset the next commit of `tp` must start at, when known."""
        committed = self._committed_offset.get(tp)
        return committed if committed is not None else self._floor.get(tp)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        log.info("offsets %d..%d of %s arrived out of order; not marked done", offset_from,
                 offset_to, tp)  # fmt: skip

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if not acked:
            return None
        acked.sort()
        floor = self.committed_floor(tp)
        if floor is not None:
            below = bisect_left(acked, floor)  # committed already: forget them
            if below:
                self._acked_index[tp].difference_update(acked[:below])
                del acked[:below]
            if not acked or acked[0] != floor:
                return None  # the record at `floor` is not processed yet
        run = next(consecutive_numbers(acked))
        del acked[: len(run)]
        self._acked_index[tp].difference_update(run)
        return run[-1] + 1

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            committed = self._committed_offset.get(tp)
            if committed is not None:
                self._floor[tp] = committed
        await super().on_partitions_revoked(revoked)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        assigned = self.assignment()
        for tp in assigned:
            self._floor.pop(tp, None)
        # Never committed: faust does not seek these, and records a stream skipped in an
        # earlier generation would never come back. Start them at the log's first record.
        fresh = [
            tp
            for tp in assigned
            if self._committed_offset.get(tp) is None and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if fresh:
            for tp, offset in (await self.earliest_offsets(*fresh)).items():
                # A leader in failover may answer -1 (unknown): leave such a partition to
                # the reset policy rather than seek to a negative offset.
                if offset is not None and offset >= 0 and self._committed_offset.get(tp) is None:
                    self._committed_offset[tp] = offset
                    await self.seek(tp, offset)

    # An offset below 0 reaches a seek when a broker answered "unknown" (-1) during a
    # leader failover: faust's recovery subtracts one from the earliest offset it was given
    # and seeks there, and aiokafka raises ValueError, which stops the worker. Read such a
    # partition from its start instead (0; aiokafka resets an offset the log no longer
    # holds to the earliest one), which is what faust does for its own -1.

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        await super().seek_wait({tp: _from_start(tp, offset) for tp, offset in partitions.items()})

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, _from_start(partition, offset))

    # faust 0.15.3 calls aiokafka's seek from its own thread while aiokafka fetches in the
    # consumer's thread: the seek drops the partition's fetched records as the fetcher is
    # handing them out, and the fetcher crashes with KeyError (seen: a worker exiting right
    # after "Worker ready", when the fresh partitions above were sought). The seek runs in
    # the consumer's thread, as faust's own seek_wait does.

    async def _seek(self, partition: TP, offset: int) -> None:
        await self._thread.call_thread(self._thread.seek, partition, offset)

    # A pause outranks back-pressure (the table recovery that never ended: see
    # docs/faust-recovery-stall.md). faust 0.15.3 lets a pressure drop registered before a
    # rebalance resume a partition the rebalance paused, and delivers records of
    # "buffered" partitions even when paused: stream records are then fetched during
    # table recovery, fill the agent's buffer, and every changelog record behind them
    # waits for the agent. Here only `resume_partitions` un-pauses, so a recovery reads
    # nothing but its changelog and always reads to its end.

    def on_buffer_drop(self, tp: TP) -> None:
        buffered = self._buffered_partitions
        if tp in buffered:
            buffered.discard(tp)
            if tp not in self._paused_partitions:
                self._get_active_partitions().add(tp)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        super().pause_partitions(tps)
        self._buffered_partitions.difference_update(ensure_TPset(tps))

    def stalled(self) -> dict[TP, int]:
        """Partitions whose next commit waits for a record while later ones are done."""
        stalls = {}
        for tp, acked in list(self._acked.items()):
            floor = self.committed_floor(tp)
            if acked and floor is not None and min(acked) > floor:
                stalls[tp] = floor
        return stalls

    async def heal_stalls(self) -> list[TP]:
        """Seek back each partition stalled at the same offset as on the previous call."""
        current = self.stalled()
        healed = []
        assignment = self.assignment()
        for tp, floor in current.items():
            if self._suspects.get(tp) == floor and tp in assignment:
                log.warning("%s: record %d was never processed; reading again from it", tp, floor)
                await self.seek(tp, floor)
                healed.append(tp)
        self._suspects = {tp: floor for tp, floor in current.items() if tp not in healed}
        return healed


def _from_start(tp: TP, offset: int) -> int:
    if offset < 0:
        log.warning("%s: asked to seek to offset %d; reading from the start instead", tp, offset)
        return 0
    return offset


class RecoveryWatch:
    """Tells a table recovery that stopped reading from one that is slow: stalled when the
    records it still needs stayed the same for `stall_seconds` (pure: fed observations)."""

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        self._since: float | None = None
        self._remaining: int | None = None

    def stalled(self, now: float, in_recovery: bool, remaining: int) -> bool:
        if not in_recovery or remaining <= 0:  # nothing left to read is not a stall
            self._since = self._remaining = None
            return False
        if remaining != self._remaining or self._since is None:
            self._since, self._remaining = now, remaining
            return False
        return now - self._since >= self.stall_seconds


class LeanMonitor(Monitor):
    """faust's monitor without its per-message timing records, which nothing here reads
    (faust's web views are off; the worker's own metrics count per batch). Those four
    hooks cost about 5 µs per record and stage (bench.faust_floor)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass


class IdempotentProducer(Producer):
    """faust's producer with acks=all and idempotence, as every producer of eventpipe.

    faust asks for idempotence only inside a transaction; outside one, a send retried
    after a leader failover could be written twice.
    """

    def _settings_extra(self) -> dict[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


def install(app: faust.App) -> None:
    """Make `app` commit only runs of processed offsets (DenseOffsetConsumer) and produce
    with acks=all and idempotence (IdempotentProducer)."""
    app.transport.Consumer = DenseOffsetConsumer  # type: ignore[misc]
    app.transport.Producer = IdempotentProducer  # type: ignore[misc]


def local_store(table: Any) -> MutableMapping[bytes, Any]:
    """The table's local state as the plain dict of its `memory://` store.

    Read and written directly: through the Table, a missing key costs a KeyError and
    every write its own changelog send (the changelog is written a batch at a time).
    """
    store: MutableMapping[bytes, Any] = table.data.data
    return store


def changelog_topic(table: Any) -> str:
    """The name of the table's changelog topic, where the worker writes its states."""
    name: str = table.changelog_topic_name
    return name


def recovery_remaining(app: faust.App) -> tuple[bool, dict[str, int]]:
    """Whether a table recovery is running, and the records it still has to read per
    changelog partition."""
    recovery = app.tables.recovery
    remaining = {str(tp): n for tp, n in recovery.active_remaining().items() if n}
    return bool(recovery.in_recovery), remaining


def highwater(app: faust.App, tp: Any) -> int | None:
    """The partition's end as last fetched; None when a rebalance took the partition away
    meanwhile (aiokafka asserts it is assigned)."""
    if tp not in app.consumer.assignment():
        return None
    value: int | None = app.consumer.highwater(tp)
    return value


async def heal_stalls(app: faust.App) -> int:
    """Seek back partitions stalled behind a dropped record; how many were."""
    consumer = app.consumer
    if isinstance(consumer, DenseOffsetConsumer):
        return len(await consumer.heal_stalls())
    return 0


def await_chain(awaitable: Any) -> list[str]:
    """`function:line` of each coroutine down what a task is awaiting."""
    chain = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
    return chain


def describe_state(app: faust.App) -> list[str]:
    """Each asyncio task's await chain, the stream buffers, the recovery's state and the
    consumer's flow state: what `kill -USR1` logs for a worker that seems stuck."""
    lines = []
    for task in asyncio.all_tasks():
        lines.append(f"task {task.get_name()}: {' -> '.join(await_chain(task.get_coro()))}")
    for topic in app.topics:
        queue = getattr(topic, "queue", None)
        if queue is not None:
            lines.append(f"buffer {topic}: {queue.qsize()}/{queue.maxsize}")
    in_recovery, remaining = recovery_remaining(app)
    lines.append(f"recovery in_recovery={in_recovery} remaining={remaining}")
    consumer = app.consumer
    lines.append(
        f"consumer flow_active={consumer.flow_active} "
        f"paused={sorted(map(str, consumer._paused_partitions))} "
        f"assigned={len(consumer.assignment())}"
    )
    return lines
