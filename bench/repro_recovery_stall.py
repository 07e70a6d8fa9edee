"""Reproduce a faust table recovery that stops reading: two workers, a rebalance, full buffers.

    .venv/bin/python -m bench.repro_recovery_stall [--changelog 40000] [--backlog 4000]
        [--buffer 100] [--delay 0.01] [--watch 90] [--fixed] [--bootstrap 127.0.0.1:9092]

faust-streaming only (nothing of eventpipe): one app with a Table (memory store, 4
partitions, no standbys) and one agent that takes batches (`take_events`, as eventpipe's
agents do) and is slow (`--delay` seconds per event), so its stream buffer
(`stream_buffer_maxsize` = `--buffer`) fills and faust's back-pressure takes its
partitions out of the fetch (`Consumer.on_buffer_full`). The changelog is pre-filled with
`--changelog` records, so every recovery has something to read (the memory store reads
its changelog from the start after each rebalance), and the input topic with `--backlog`
records, so the buffer is full when the rebalance comes.

Worker A starts alone and recovers; once it is processing with a full buffer, worker B
starts (a rebalance: each keeps half); once B is busy too, B is killed (SIGKILL), and
after the session timeout A takes B's partitions back and recovers them from the
changelog (its memory store forgot them), its agent still busy with a full buffer: the
surviving worker of a two-worker test. Each worker prints its state every 0.5 s as
JSON (in recovery or not, changelog records still to read, which input partitions faust
fetches, which it keeps as "buffered", events processed while in recovery, stream
records waiting for room in a full buffer, pressure drops that resumed a partition
faust had paused). The script prints what it saw and a verdict: a worker that stays in
recovery with records to read and reads none of them for 30 s has stalled.

--fixed runs the same with the fix proposed in docs/faust-recovery-stall.md applied to
faust's consumer in the workers (a partition faust paused is never resumed by a buffer's
pressure drop, and a rebalance forgets the buffered partitions).

Everything it creates is named `repro-<hex>` and deleted at the end. Not a test: it
prints what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PARTITIONS = 4
STALL_SECONDS = 30.0


# ---- the worker (a child process) -----------------------------------------------------------


def apply_fix() -> None:
    """The proposed fix, on faust's base consumer (see docs/faust-recovery-stall.md)."""
    from faust.transport.consumer import Consumer

    def on_buffer_drop(self: Any, tp: Any) -> None:
        buffered = self._buffered_partitions
        if tp in buffered:
            buffered.discard(tp)
            if tp not in self._paused_partitions:  # paused by a rebalance: stays paused
                self._get_active_partitions().add(tp)

    original_pause = Consumer.pause_partitions

    def pause_partitions(self: Any, tps: Any) -> None:
        original_pause(self, tps)
        self._buffered_partitions.difference_update(tps)

    Consumer.on_buffer_drop = on_buffer_drop  # type: ignore[method-assign]
    Consumer.pause_partitions = pause_partitions  # type: ignore[method-assign]


def run_worker(spec: dict[str, Any]) -> None:
    import faust

    if spec["fixed"]:
        apply_fix()
    probes = {"drop_resumed_paused": 0, "drop_resumed_in_recovery": 0}
    from faust.transport.consumer import Consumer

    stock_on_buffer_drop = Consumer.on_buffer_drop

    def on_buffer_drop(self: Any, tp: Any) -> None:
        """Counts the pressure drops that would resume a partition faust had paused."""
        if tp in self._buffered_partitions:
            probes["drop_resumed_paused"] += tp in self._paused_partitions
            probes["drop_resumed_in_recovery"] += bool(self.app.in_recovery)
        stock_on_buffer_drop(self, tp)

    Consumer.on_buffer_drop = on_buffer_drop  # type: ignore[method-assign]
    app = faust.App(
        spec["app_id"],
        broker=f"kafka://{spec['bootstrap']}",
        store="memory://",
        datadir=spec["datadir"],
        topic_partitions=PARTITIONS,
        table_standby_replicas=0,
        stream_buffer_maxsize=spec["buffer"],
        stream_wait_empty=spec["wait_empty"],
        web_enabled=False,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        key_serializer="json",
        value_serializer="json",
    )
    topic = app.topic(spec["input"], key_type=str, value_type=int, partitions=PARTITIONS)
    table = app.Table(
        "state", default=int, partitions=PARTITIONS, key_type=str, value_type=int,
        use_partitioner=True,  # written from batches, outside the per-event context
    )  # fmt: skip
    stats = {"processed": 0, "in_recovery": 0}

    @app.agent(topic)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(spec["batch"], within=0.5):
            for event in events:
                table[event.key] += 1
                stats["processed"] += 1
                stats["in_recovery"] += bool(app.tables.recovery.in_recovery)
                await asyncio.sleep(spec["delay"])
            for event in events:
                event.ack()

    @app.timer(interval=0.5)
    async def report() -> None:
        consumer = app.consumer
        recovery = app.tables.recovery
        queues = [
            {"qsize": chan.queue.qsize(), "waiting_puts": len(getattr(chan.queue, "_putters", []))}
            for chan in app.topics._topics
            if spec["input"] in chan.topics
        ]
        active = consumer._active_partitions or set()
        state = {
            "worker": spec["name"],
            "t": round(time.monotonic(), 2),
            "in_recovery": bool(recovery.in_recovery),
            "remaining": int(recovery.active_remaining_total()),
            "received_tps": len(recovery._active_events_received_at),
            "input_fetched": sorted(tp.partition for tp in active if tp.topic == spec["input"]),
            "input_buffered": sorted(
                tp.partition for tp in consumer._buffered_partitions if tp.topic == spec["input"]
            ),
            "input_assigned": sorted(
                tp.partition for tp in consumer.assignment() if tp.topic == spec["input"]
            ),
            "processed": stats["processed"],
            "processed_in_recovery": stats["in_recovery"],
            "stream_queues": queues,
            **probes,
        }
        # faust's worker turns sys.stdout into its log: the real stdout is the parent's pipe.
        print("STATE " + json.dumps(state), file=sys.__stdout__, flush=True)

    @app.task
    async def dump_on_sigusr1() -> None:
        """`kill -USR1 <worker pid>`: every task's stack into the worker's log."""

        def dump() -> None:
            for task in asyncio.all_tasks():
                print(f"--- {task.get_name()}", file=sys.__stderr__)
                task.print_stack(limit=12, file=sys.__stderr__)
            consumer = app.consumer
            print(
                f"flow_active={consumer.flow_active} active={consumer._active_partitions} "
                f"paused={consumer._paused_partitions} "
                f"buffered={consumer._buffered_partitions}",
                file=sys.__stderr__,
                flush=True,
            )

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)

    sys.argv = [sys.argv[0]]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


# ---- the orchestrator -----------------------------------------------------------------------


async def prepare(args: argparse.Namespace, app_id: str, input_topic: str) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    try:
        changelog = f"{app_id}-state-changelog"
        await admin.create_topics(
            [NewTopic(input_topic, PARTITIONS, 1), NewTopic(changelog, PARTITIONS, 1)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending = []
        for i in range(args.changelog):
            key = json.dumps(f"old-{i}").encode()
            value = json.dumps(i).encode()
            part = i % PARTITIONS
            pending.append(await producer.send(changelog, value, key=key, partition=part))
        for i in range(args.backlog):
            key = json.dumps(f"k{i % 1000}").encode()
            part = (i % 1000) % PARTITIONS
            pending.append(await producer.send(input_topic, b"1", key=key, partition=part))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def print_commits(args: argparse.Namespace, app_id: str, input_topic: str) -> None:
    """The group's committed offsets of the input topic beside its end offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=args.bootstrap, group_id=app_id)
    await consumer.start()
    try:
        tps = [TopicPartition(input_topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        pairs = ", ".join(
            [f"{tp.partition}: {await consumer.committed(tp)}/{ends[tp]}" for tp in tps]
        )
        print(f"input committed/end offsets by partition: {pairs}")
    finally:
        await consumer.stop()


async def cleanup(args: argparse.Namespace, app_id: str, input_topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import DeleteGroupsRequest

    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t == input_topic or t.startswith(app_id)]
        if doomed:
            await admin.delete_topics(doomed)
        coordinator = await admin.find_coordinator(app_id)
        await admin._send_request_to_node(coordinator, DeleteGroupsRequest([app_id]))
    finally:
        await admin.close()


class WorkerProcess:
    def __init__(self, name: str, spec: dict[str, Any], workdir: Path) -> None:
        self.name = name
        self.states: list[dict[str, Any]] = []
        self.log = workdir / f"{name}.log"
        self.state_log = workdir / f"{name}.states.jsonl"
        spec = {**spec, "name": name, "datadir": str(workdir / name)}
        env = {**os.environ, "REPRO_SPEC": json.dumps(spec)}
        self.err = open(self.log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.repro_recovery_stall", "worker"],
            stdout=subprocess.PIPE, stderr=self.err, env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip

    async def read(self) -> None:
        await asyncio.to_thread(self._read)

    def _read(self) -> None:
        """Collect the worker's STATE lines (kept in <name>.states.jsonl too)."""
        assert self.proc.stdout is not None
        with open(self.state_log, "a") as out:
            for line in self.proc.stdout:
                text = line.decode(errors="replace").strip()
                if text.startswith("STATE "):
                    self.states.append(json.loads(text[6:]))
                    out.write(text[6:] + "\n")
                    out.flush()

    def last(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def stall_of(states: list[dict[str, Any]], since: float) -> float:
    """Longest time (s) after `since` in recovery with records to read and none read."""
    longest, start, last_remaining = 0.0, None, None
    for s in states:
        if s["t"] < since:
            continue
        stuck = s["in_recovery"] and s["remaining"] > 0 and s["remaining"] == last_remaining
        if stuck:
            start = start if start is not None else s["t"]
            longest = max(longest, s["t"] - start)
        else:
            start = None
        last_remaining = s["remaining"]
    return longest


def timeline(states: list[dict[str, Any]], since: float, every: float = 5.0) -> list[str]:
    """One line per `every` seconds after `since`: what the recovery and the stream did."""
    lines, next_t = [], since
    for s in states:
        if s["t"] < next_t:
            continue
        next_t = s["t"] + every
        waiting = sum(q["waiting_puts"] for q in s["stream_queues"])
        lines.append(
            f"  +{s['t'] - since:5.1f} s  in_recovery={s['in_recovery']!s:<5} "
            f"remaining={s['remaining']:>7}  input fetched={s['input_fetched']} "
            f"puts waiting={waiting}  processed in recovery={s['processed_in_recovery']}"
        )
    return lines


def summary(states: list[dict[str, Any]], since: float) -> str:
    after = [s for s in states if s["t"] >= since]
    if not after:
        return "no state reported"
    recovering = [s for s in after if s["in_recovery"]]
    fetched_in_recovery = [s for s in recovering if s["input_fetched"]]
    waiting = [s for s in recovering if any(q["waiting_puts"] for q in s["stream_queues"])]
    last = after[-1]
    return (
        f"{len(recovering)} of {len(after)} reports in recovery; input partitions fetched "
        f"while in recovery in {len(fetched_in_recovery)} of them "
        f"(e.g. {fetched_in_recovery[0]['input_fetched'] if fetched_in_recovery else []}); "
        f"stream records waiting for room in a full buffer while in recovery in "
        f"{len(waiting)}; events processed while in recovery: "
        f"{last['processed_in_recovery']}; pressure drops on a paused partition: "
        f"{last['drop_resumed_paused']} ({last['drop_resumed_in_recovery']} in recovery); "
        f"last: in_recovery={last['in_recovery']} "
        f"remaining={last['remaining']} processed={last['processed']}"
    )


async def orchestrate(args: argparse.Namespace) -> int:
    run = secrets.token_hex(4)
    app_id = f"repro-{run}"
    input_topic = f"repro-{run}-input"
    workdir = Path(f"/tmp/{app_id}")
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    spec = {
        "app_id": app_id, "input": input_topic, "bootstrap": args.bootstrap,
        "buffer": args.buffer, "delay": args.delay, "fixed": args.fixed,
        "batch": args.batch, "wait_empty": not args.no_wait_empty,
    }  # fmt: skip
    print(
        f"{app_id}: changelog {args.changelog:,} records, backlog {args.backlog:,}, "
        f"stream_buffer_maxsize {args.buffer}, {args.delay * 1000:.0f} ms per event, batches "
        f"of {args.batch}, stream_wait_empty {not args.no_wait_empty}, "
        f"{'WITH' if args.fixed else 'without'} the fix; logs in {workdir}",
        flush=True,
    )
    workers: list[WorkerProcess] = []
    try:
        await prepare(args, app_id, input_topic)
        a = WorkerProcess("A", spec, workdir)
        workers.append(a)
        readers = [asyncio.create_task(a.read())]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # A recovered and busy, its buffer under pressure
            s = a.last()
            if s and not s["in_recovery"] and s["processed"] > 0 and s["input_buffered"]:
                break
            await asyncio.sleep(0.5)
        else:
            print("worker A never got busy with a full buffer:", a.last())
            return 2
        print(f"A ready and busy: {a.last()}", flush=True)
        b = WorkerProcess("B", spec, workdir)
        workers.append(b)
        readers.append(asyncio.create_task(b.read()))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # B recovered its half and busy too
            s = b.last()
            if s and not s["in_recovery"] and s["processed"] > 0:
                break
            await asyncio.sleep(0.5)
        else:
            print("worker B never got busy:", b.last())
            return 2
        print(f"B ready and busy: {b.last()}", flush=True)
        # B dies: after the session timeout A takes B's partitions back and recovers them
        # from the changelog (the memory store forgot them) while its buffer is full.
        b.proc.kill()
        print("B killed (SIGKILL); watching A", flush=True)
        since = time.monotonic()
        await asyncio.sleep(args.watch)
        verdict = 0
        print("worker A after B was killed:")
        print("\n".join(timeline(a.states, since)))
        for w in workers:
            stalled = stall_of(w.states, since)
            print(f"worker {w.name}: {summary(w.states, since)}")
            print(f"  longest recovery without reading a changelog record: {stalled:.1f} s")
            if stalled >= STALL_SECONDS:
                verdict = 1
        print("VERDICT: " + ("recovery STALLED" if verdict else "every recovery made progress"))
        await print_commits(args, app_id, input_topic)
        return verdict
    finally:
        for w in workers:
            w.stop()
        await cleanup(args, app_id, input_topic)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        run_worker(json.loads(os.environ["REPRO_SPEC"]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changelog", type=int, default=40_000)
    parser.add_argument("--backlog", type=int, default=4_000)
    parser.add_argument("--buffer", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--watch", type=float, default=90.0)
    parser.add_argument("--batch", type=int, default=100, help="take_events batch size")
    parser.add_argument(
        "--no-wait-empty",
        action="store_true",
        help="stream_wait_empty=False: a rebalance does not wait for the agent's batch",
    )
    parser.add_argument("--fixed", action="store_true")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    return asyncio.run(orchestrate(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
