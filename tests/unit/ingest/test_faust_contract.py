"""Each assumption `ingest.kafka.faust_runtime` makes about faust-streaming's internals.

The worker reaches into faust in that one module only. These checks fail loudly, naming
the assumption, when a faust release moves what the module relies on: read the module's
docstring and faust's changelog before changing the pin.
"""

from __future__ import annotations

import inspect
from typing import Any

import faust
import pytest
from faust.sensors.monitor import Monitor
from faust.serializers import codecs
from faust.stores import memory
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.transport import consumer as base_consumer
from faust.transport.drivers.aiokafka import Consumer

from ingest.kafka import faust_runtime
from ingest.kafka.faust_runtime import DenseOffsetConsumer, LeanMonitor


def params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_pinned_release() -> None:
    assert faust.__version__ == "0.15.3", "faust_runtime was checked against 0.15.3 only"


def test_consumer_offset_bookkeeping_has_the_overridden_shape() -> None:
    assert params(Consumer._add_gap) == ["self", "tp", "offset_from", "offset_to"]
    assert inspect.iscoroutinefunction(Consumer._add_gap)
    assert params(Consumer._new_offset) == ["self", "tp"]
    assert params(Consumer.on_partitions_revoked) == ["self", "revoked"]
    assert params(Consumer.perform_seek) == ["self"]
    assert params(Consumer.earliest_offsets) == ["self", "partitions"]
    source = inspect.getsource(base_consumer.Consumer)
    for name in ("_acked", "_acked_index", "_committed_offset", "_paused_partitions"):
        assert f"self.{name} =" in source, f"faust's consumer no longer sets {name}"
    # _new_offset is where faust folds gaps in: the override must replace it whole.
    assert "_gap" in inspect.getsource(base_consumer.Consumer._new_offset)


def test_dense_offset_consumer_overrides_exactly_those_methods() -> None:
    overridden = {
        name for name, value in vars(DenseOffsetConsumer).items()
        if callable(value) and hasattr(Consumer, name)
    }  # fmt: skip
    expected = {
        "__post_init__", "_add_gap", "_new_offset", "on_partitions_revoked", "perform_seek",
        "on_buffer_drop", "pause_partitions", "seek", "seek_wait", "_seek",
    }  # fmt: skip
    assert overridden == expected


def test_back_pressure_has_the_overridden_shape() -> None:
    """The recovery fix replaces on_buffer_drop whole and extends pause_partitions."""
    assert params(base_consumer.Consumer.on_buffer_drop) == ["self", "tp"]
    assert params(base_consumer.Consumer.pause_partitions) == ["self", "tps"]
    drop = inspect.getsource(base_consumer.Consumer.on_buffer_drop)
    assert "_buffered_partitions" in drop and "_get_active_partitions" in drop
    source = inspect.getsource(base_consumer.Consumer)
    assert "self._buffered_partitions = set()" in source
    assert "or tp in self._buffered_partitions" in source  # getmany lets them through


def test_memory_store_keeps_a_plain_dict_in_data() -> None:
    assert "self.data: MutableMapping = {}" in inspect.getsource(memory.Store)


def test_table_names_its_changelog_topic() -> None:
    assert isinstance(inspect.getattr_static(Collection, "changelog_topic_name"), property)


def test_changelog_json_values_decode_into_dicts() -> None:
    """What recovery puts in the table for a value the worker wrote: a dict."""
    assert codecs.loads("json", b'{"alert": null, "decisions": {}}') == {
        "alert": None,
        "decisions": {},
    }


def test_recovery_reports_what_it_has_left() -> None:
    assert params(Recovery.active_remaining) == ["self"]
    assert "self.in_recovery" in inspect.getsource(Recovery)


@pytest.mark.parametrize(
    "hook", ["on_message_in", "on_stream_event_in", "on_stream_event_out", "on_message_out"]
)
def test_lean_monitor_replaces_existing_hooks_with_the_same_signature(hook: str) -> None:
    assert params(getattr(LeanMonitor, hook)) == params(getattr(Monitor, hook))


def test_nothing_else_in_ingest_imports_faust_internals() -> None:
    """Only faust_runtime imports below faust's public package (faust.App and friends)."""
    from pathlib import Path

    root = Path(faust_runtime.__file__).parents[2]
    offenders = []
    for path in (root / "ingest").rglob("*.py"):
        if path.name == "faust_runtime.py":
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("from faust.", "import faust.")) or (
                "._" in stripped
                and ("faust" in stripped and stripped.startswith(("from", "import")))
            ):
                offenders.append(f"{path.relative_to(root)}: {stripped}")
    assert offenders == []


def test_faust_producer_settings_merge_settings_extra_last() -> None:
    """IdempotentProducer relies on `_settings_extra` being merged over the defaults."""
    from faust.transport.drivers.aiokafka import Producer

    from ingest.kafka.faust_runtime import IdempotentProducer

    source = inspect.getsource(Producer._new_producer)
    assert "_settings_extra()" in source, "faust no longer builds its producer from the extras"
    assert params(Producer._settings_extra) == ["self"]
    app = faust.App("contract-producer", broker="kafka://127.0.0.1:1")
    faust_runtime.install(app)
    assert app.transport.Producer is IdempotentProducer
    producer = app.transport.create_producer()
    options = {**producer._settings_default(), **producer._settings_extra()}
    assert options["acks"] == "all" and options["enable_idempotence"] is True


def test_the_consumer_thread_seeks_synchronously_and_takes_calls() -> None:
    """DenseOffsetConsumer._seek hands the thread's synchronous seek to call_thread."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert not inspect.iscoroutinefunction(AIOKafkaConsumerThread.seek)
    assert params(AIOKafkaConsumerThread.seek) == ["self", "partition", "offset"]
    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread.call_thread)
