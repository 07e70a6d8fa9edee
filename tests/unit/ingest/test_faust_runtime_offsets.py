"""DenseOffsetConsumer commits only runs of processed offsets that start at the committed one."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from faust.types import TP

from ingest.kafka.faust_runtime import DenseOffsetConsumer, RecoveryWatch

TOPIC_TP = TP("t.raw", 0)


@pytest.fixture
def consumer() -> DenseOffsetConsumer:
    app = faust.App("offsets-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    app.transport.Consumer = DenseOffsetConsumer  # type: ignore[misc]
    consumer = app.consumer
    assert isinstance(consumer, DenseOffsetConsumer)
    return consumer


def acked(consumer: DenseOffsetConsumer, *offsets: int) -> None:
    consumer._acked[TOPIC_TP].extend(offsets)
    consumer._acked_index[TOPIC_TP].update(offsets)


def test_a_run_starting_at_the_committed_offset_is_committed(consumer: DenseOffsetConsumer) -> None:
    consumer._committed_offset[TOPIC_TP] = 10
    acked(consumer, 12, 10, 11, 15)
    assert consumer._new_offset(TOPIC_TP) == 13
    assert consumer._acked[TOPIC_TP] == [15]


def test_an_unprocessed_record_at_the_committed_offset_holds_the_commit(
    consumer: DenseOffsetConsumer,
) -> None:
    # faust's own rule let 11.. through here: 11 - 10 is not "> 1"
    consumer._committed_offset[TOPIC_TP] = 10
    acked(consumer, 11, 12, 13)
    assert consumer._new_offset(TOPIC_TP) is None
    assert consumer.stalled() == {TOPIC_TP: 10}


async def test_a_jump_in_read_offsets_is_not_marked_done(consumer: DenseOffsetConsumer) -> None:
    consumer._committed_offset[TOPIC_TP] = 3
    await consumer._add_gap(TOPIC_TP, 4, 46)
    acked(consumer, 3, 47, 48)
    assert consumer._new_offset(TOPIC_TP) == 4  # not 49: 4..46 were never acked


def test_offsets_below_the_committed_one_are_forgotten(consumer: DenseOffsetConsumer) -> None:
    consumer._committed_offset[TOPIC_TP] = 20
    acked(consumer, 18, 19, 20, 21)
    assert consumer._new_offset(TOPIC_TP) == 22
    assert not consumer._acked_index[TOPIC_TP]


async def test_after_a_revocation_the_last_commit_still_starts_at_the_committed_offset(
    consumer: DenseOffsetConsumer,
) -> None:
    consumer._committed_offset[TOPIC_TP] = 100
    # What faust does first on a revocation: forget the partition's bookkeeping.
    consumer._floor[TOPIC_TP] = consumer._committed_offset.pop(TOPIC_TP)
    acked(consumer, 121, 122)  # 100..120 acked before, forgotten, never committed
    assert consumer._new_offset(TOPIC_TP) is None


async def test_a_partition_stalled_twice_at_the_same_offset_is_read_again(
    consumer: DenseOffsetConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC_TP})
    consumer._committed_offset[TOPIC_TP] = 10
    acked(consumer, 12)
    assert await consumer.heal_stalls() == []  # first sighting: it may still be in flight
    assert await consumer.heal_stalls() == [TOPIC_TP]
    assert seeks == [(TOPIC_TP, 10)]


def test_a_recovery_is_stalled_only_when_it_reads_nothing_for_the_whole_time() -> None:
    watch = RecoveryWatch(stall_seconds=60)
    assert not watch.stalled(0, True, 500)
    assert not watch.stalled(50, True, 400)  # reading: the clock starts again
    assert not watch.stalled(100, True, 400)
    assert watch.stalled(110, True, 400)  # 60 s without a record read
    assert not watch.stalled(120, False, 0)  # recovered
    assert not watch.stalled(500, True, 400)  # a new recovery starts its own clock
    assert not watch.stalled(559, True, 400)
    assert watch.stalled(560, True, 400)
    assert not watch.stalled(600, True, 0)  # all read, about to end: not a stall
    assert not watch.stalled(900, True, 0)


def test_a_pressure_drop_never_resumes_a_paused_partition(consumer: DenseOffsetConsumer) -> None:
    """The recovery stall: a rebalance pauses a partition whose buffer was full; the stale
    pressure-drop callback must not bring it back into the fetch during recovery."""
    active = consumer._get_active_partitions()
    active.add(TOPIC_TP)
    consumer.app.in_recovery = False
    consumer.on_buffer_full(TOPIC_TP)  # back-pressure: out of the fetch, "buffered"
    assert TOPIC_TP not in active and TOPIC_TP in consumer._buffered_partitions
    consumer.pause_partitions([TOPIC_TP])  # the rebalance
    assert TOPIC_TP not in consumer._buffered_partitions  # getmany no longer lets it through
    consumer.on_buffer_drop(TOPIC_TP)  # the stale callback
    assert TOPIC_TP not in consumer._get_active_partitions()
    consumer.resume_partitions([TOPIC_TP])  # only this un-pauses
    assert TOPIC_TP in consumer._get_active_partitions()


def test_a_pressure_drop_resumes_a_partition_that_is_not_paused(
    consumer: DenseOffsetConsumer,
) -> None:
    consumer._get_active_partitions().add(TOPIC_TP)
    consumer.app.in_recovery = False
    consumer.on_buffer_full(TOPIC_TP)
    consumer.on_buffer_drop(TOPIC_TP)
    assert TOPIC_TP in consumer._get_active_partitions()


class RecordingThread:
    """Stands in for faust's consumer thread (no broker): records the seeks it is asked for."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []
        self.on_thread: list[str] = []

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        self.on_thread.append(fun.__name__)
        return fun(*args)

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.extend(partitions.items())


async def test_a_negative_offset_from_a_failover_is_read_from_the_start(
    consumer: DenseOffsetConsumer,
) -> None:
    # faust's recovery seeks to (earliest - 1); a leader in failover answered -1 for the
    # earliest, and aiokafka's seek(-2) raised "Offset must be a positive integer".
    thread = RecordingThread()
    consumer._thread = thread  # type: ignore[assignment]
    other = TP("t.raw", 1)
    await consumer.seek_wait({TOPIC_TP: -2, other: 7})
    await consumer.seek(TOPIC_TP, -1)
    assert thread.seeks == [(TOPIC_TP, 0), (other, 7), (TOPIC_TP, 0)]


async def test_a_seek_runs_in_the_consumers_thread(consumer: DenseOffsetConsumer) -> None:
    # From faust's thread it raced the fetcher (KeyError in aiokafka's fetched_records).
    thread = RecordingThread()
    consumer._thread = thread  # type: ignore[assignment]
    await consumer.seek(TOPIC_TP, 12)
    assert thread.seeks == [(TOPIC_TP, 12)] and thread.on_thread == ["seek"]
