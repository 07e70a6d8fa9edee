"""The peer of the pipeline bench: Quix Streams' ElasticsearchSink, Kafka to Elasticsearch.

Run by `bench.peer_quix` with the Python of its own virtualenv (Quix Streams is no
dependency of eventpipe), so this file imports nothing of the project: the standard
library and Quix Streams only. It reads its spec as JSON on stdin (the Elasticsearch
password included, so it never shows in a process list) and prints one line
`PEER-RESULT {json}` on stdout at the end.

What it runs is what a team picking Quix Streams for Kafka to Elasticsearch would
write: one Application (at-least-once, the default), a StreamingDataFrame over the topic
with the JSON deserializer, `.sink(ElasticsearchSink(...))`, the message key as the
document id. The sink buffers records and writes them with `helpers.bulk` at each
checkpoint (every `commit_interval` seconds), in chunks of `batch_size`. The app stops
after `events` records (`Application.run(count=...)`), and its final checkpoint flushes
what is left, so the end of the window is not a wait for the next checkpoint.

Measured in the process itself, with `time.perf_counter()` and `time.process_time()`
(CPU of every thread: librdkafka's too): the window opens when the first record reaches
the sink and closes when the write of the N-th is acknowledged. Quix Streams consumes and
writes in turns on one thread (records are buffered until a checkpoint, then written
while nothing is consumed), so a window opening at its first write would leave out the
consuming and deserializing of every record read before it; opening at the first record
counts all of the peer's work and leaves out only its start and the group join.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from elasticsearch import ApiError
from quixstreams import Application
from quixstreams.sinks import SinkBatch
from quixstreams.sinks.community.elasticsearch import ElasticsearchSink

RESULT_PREFIX = "PEER-RESULT "


class TimedElasticsearchSink(ElasticsearchSink):
    """The stock sink, noting when the first record came and when each write was acked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written = 0
        self.first: tuple[float, float] | None = None  # (perf_counter, CPU s)
        self.writing_s = 0.0
        self.marks: list[tuple[float, float, int]] = []  # (perf_counter, CPU s, written)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.first = (time.perf_counter(), time.process_time())
        # Later records go straight to the stock method: no timing cost per record.
        self.add = super().add  # type: ignore[method-assign]
        super().add(*args, **kwargs)

    def write(self, batch: SinkBatch) -> None:
        started = time.perf_counter()
        super().write(batch)
        now = time.perf_counter()
        self.writing_s += now - started
        self.written += batch.size
        self.marks.append((now, time.process_time(), self.written))


def on_connect_failure(error: Exception) -> None:
    """Accept the one failure of the sink's start-up check that says nothing about the node.

    The sink checks its client with `GET /`, which the project's Elasticsearch build
    (the integration-test distribution) does not serve (405); the index the sink would
    then create exists already (made from the events template by the bench). Anything
    else fails the run.
    """
    if isinstance(error, ApiError) and error.meta.status == 405:
        return
    raise error


def client_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """The project's Elasticsearch client options, as JSON gave them, for the sink's client."""
    kwargs: dict[str, Any] = {"request_timeout": options["request_timeout"]}
    if options.get("basic_auth"):
        kwargs["basic_auth"] = tuple(options["basic_auth"])
    if options.get("ca_certs"):
        kwargs["ca_certs"] = options["ca_certs"]
    return kwargs


def run(spec: dict[str, Any]) -> dict[str, Any]:
    started, cpu0 = time.perf_counter(), time.process_time()
    es = spec["elasticsearch"]
    sink = TimedElasticsearchSink(
        url=es["hosts"][0],
        index=spec["index"],
        batch_size=spec["batch_size"],
        on_client_connect_failure=on_connect_failure,
        **client_kwargs(es),
    )
    app = Application(
        broker_address=spec["bootstrap_servers"],
        consumer_group=spec["group"],
        auto_offset_reset="earliest",
        commit_interval=spec["commit_interval"],
        state_dir=spec["state_dir"],
        loglevel="WARNING",
    )
    topic = app.topic(spec["topic"], key_deserializer="str", value_deserializer="json")
    app.dataframe(topic).sink(sink)
    app.run(count=spec["events"], collect=False)
    ended = time.perf_counter()
    if sink.first is None or not sink.marks:
        raise RuntimeError("the sink wrote nothing")
    (t0, c0), (t1, c1, events) = sink.first, sink.marks[-1]
    return {
        "written": events,
        "writes": len(sink.marks),
        "window_s": t1 - t0,
        "writing_s": sink.writing_s,
        "events_per_s": events / (t1 - t0) if t1 > t0 else float("nan"),
        "cpu_us_per_event": (c1 - c0) / events * 1e6 if events else float("nan"),
        "cpu_share": (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan"),
        "whole_s": ended - started,
        "whole_cpu_s": time.process_time() - cpu0,
    }


def main() -> int:
    result = run(json.loads(sys.stdin.read()))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
