"""Batch production lands each keyed record where faust's own producer would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from ingest.kafka.produce import murmur2, partition_for


def test_partition_for_matches_the_default_partitioner() -> None:
    # faust's producer (and the table's use_partitioner) pick partitions this way.
    partitioner = DefaultPartitioner()
    for partitions in (1, 3, 4, 12):
        every = list(range(partitions))
        for i in range(500):
            key = f"domain-{i % 7}\x1fproject-{i % 3}\x1fkey-é-{i}".encode()
            assert partition_for(key, partitions) == partitioner(key, every, every)


def test_keys_spread_over_partitions() -> None:
    used = {partition_for(f"k{i}".encode(), 4) for i in range(100)}
    assert used == {0, 1, 2, 3}


@given(st.binary(max_size=200))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == reference_murmur2(data)
