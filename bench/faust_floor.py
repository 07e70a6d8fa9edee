"""What faust itself costs per event: the floor under the worker's CPU per event.

    python -m bench.faust_floor [--events 100000]

Pre-produces N small records (the size of a CreateEventRequest) to a fresh topic, then
runs a faust app of one agent over it, in a child process, in three shapes:

  consume   `take_events(1000)` and nothing else
  forward   the same, re-producing every record to a second topic through the faust
            topic's `send()` and waiting for the acks (the parse agent's shape)
  batch     the same, re-producing through the worker's batch producer
            (`ingest.kafka.produce.BatchProducer`)

and prints the child's CPU seconds (utime+stime, from its first batch to the N-th event)
per event. Figures only; topics and groups are named `ffloor-<hex>` and deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.settings import Settings

CLK_TCK = os.sysconf("SC_CLK_TCK")

CHILD = r"""
import asyncio, os, sys, time
import faust
from ingest.kafka.faust_runtime import broker_options
from schemas.settings import Settings

mode, src_name, dst_name, total = sys.argv[1:5]
kafka_settings = Settings().kafka
total = int(total)

def cpu() -> float:
    fields = open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

app = faust.App(f"{src_name}-group", **broker_options(kafka_settings), store="memory://",
                producer_acks=-1, producer_linger=0.005, consumer_auto_offset_reset="earliest",
                web_enabled=False, datadir=f"/tmp/{src_name}-data")
src = app.topic(src_name, key_serializer="raw", value_serializer="raw")
dst = app.topic(dst_name, key_serializer="raw", value_serializer="raw")
state = {"n": 0, "cpu": None, "wall": None, "producer": None}

@app.agent(src)
async def agent(stream):
    async for events in stream.take_events(1000, within=0.2):
        if state["cpu"] is None:
            state["cpu"], state["wall"] = cpu(), time.monotonic()
        if mode == "forward":
            pending = [await dst.send(key=e.message.key or b"k", value=e.message.value)
                       for e in events]
            await asyncio.gather(*pending)
        elif mode == "batch":
            if state["producer"] is None:
                from aiokafka import AIOKafkaProducer
                from ingest.kafka.produce import BatchProducer
                kafka = AIOKafkaProducer(**kafka_settings.client_options(), acks="all",
                                         enable_idempotence=True, max_batch_size=1 << 20)
                await kafka.start()
                state["producer"] = BatchProducer(kafka)
            await state["producer"].send_all(
                dst_name, [(e.message.key or b"k", e.message.value, []) for e in events])
        state["n"] += len(events)
        if state["n"] >= total:
            used, wall = cpu() - state["cpu"], time.monotonic() - state["wall"]
            print(f"RESULT {state['n']} {used:.3f} {wall:.3f}", flush=True)
            os._exit(0)

faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
"""


async def prepare(name: str, total: int) -> None:
    admin = AIOKafkaAdminClient(**Settings().kafka.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{name}.{suffix}", 4, 1) for suffix in ("src", "dst")])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**Settings().kafka.client_options(), linger_ms=5, acks="all")
    await producer.start()
    value = (
        b'{"webhook_id":"webhook-0123456789ab","data":{"event_key":"k","title":"'
        + (b"x" * 300)
        + b'"}}'
    )
    try:
        pending = [await producer.send(f"{name}.src", value, key=b"%d" % i) for i in range(total)]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def drop(names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**Settings().kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([t for t in existing if any(t.startswith(n) for n in names)])
    finally:
        await admin.close()


def run_child(mode: str, name: str, total: int) -> tuple[float, float]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, f"{name}.src", f"{name}.dst", str(total)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    for line in (out.stdout + out.stderr).splitlines():
        if "RESULT " in line:  # faust's worker routes print() through its logging
            n, used, wall = line.split("RESULT ", 1)[1].split()[:3]
            return float(used) / int(n), int(n) / float(wall)
    raise RuntimeError(f"{mode}: no result after {time.monotonic() - started:.0f} s\n{out.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--modes", default="consume,forward,batch")
    args = parser.parse_args()
    names = []
    try:
        for mode in args.modes.split(","):
            name = f"ffloor-{secrets.token_hex(4)}"
            names.append(name)
            asyncio.run(prepare(name, args.events))
            per_event, rate = run_child(mode, name, args.events)
            print(f"{mode:8} {per_event * 1e6:7.1f} µs CPU/event   {rate:9,.0f} events/s")
    finally:
        asyncio.run(drop(names))


if __name__ == "__main__":
    main()
