"""The pipeline's throughput, CPU, memory and latency, beside a bulk-indexing ceiling.

    python -m bench.pipeline_bench [--events 100000] [--rate 1000] [--seconds 30]
                                   [--intake-requests 20000] [--connections 64] [--profile]
                                   [--parts peer,intake,processor,latency,scale]

One run, every topic, index and consumer group named after a fresh `pbench-<hex>`
and deleted at the end; parts in the order they run:

1. ceiling    N EventInfo documents, exactly as the worker builds them for the `standard`
              parser, bulk-created with `elasticsearch.helpers.async_streaming_bulk`
              (op_type create, _id = event_id, daily index, the events template) into a
              prefix of their own: events/s from the first acknowledged chunk to the N-th.
   peer       the same N documents (JSON, keyed by event_id, document i on partition
              i % partitions) pre-produced to a topic of the same shape, then Quix Streams'
              ElasticsearchSink (PyPI's `quixstreams`, pinned in bench/peer_quix.py, in a
              virtualenv of its own) into a daily index from the same template: events/s
              from the first record reaching its sink to the N-th document's write
              acknowledged, and its process CPU per event; after the processor, the ratio
              processor/peer (bench/peer_quix_app.py says why the window opens there).
2. intake     `python -m deploy.cli api` (uvicorn, one process, topics of its own that no
              worker reads) loaded by wrk (keep-alive connections, a bounded request
              count) or, without wrk, by an asyncio load generator in another process,
              POSTing a one-alert Alertmanager payload to the webhook URL.
3. processor  N CreateEventRequest records pre-produced to a fresh events.raw, then one
              `python -m deploy.cli worker`; from its first indexed event to the N-th
              (its Prometheus counter `eventpipe_events_indexed_total`, polled every 0.25 s):
              events/s, worker CPU (utime+stime from /proc) per event, worker RSS.
4. latency    an api for part 3's pipeline, its worker still running: Alertmanager
              payloads with one alert each at a steady --rate for --seconds, each with a
              unique fingerprint and a `bench_sent_at` label; every 10th is searched for by
              event_key (one `terms` search for all pending keys every 50 ms, straight to
              Elasticsearch, the index's own refresh_interval) until found.

5. scale      part 3 again on topics of its own, with two workers on this host sharing the
              partitions (`--parts ...,scale`): whether a second worker raises the rate
              where Elasticsearch is not the limit.
6. cluster    part 3 again against the 3-node clusters of `eventpipe engines up --nodes 3`
              (`--parts processor,cluster`; started here, and stopped afterwards, unless
              they run; EVENTPIPE_ENGINES__CLUSTER_DIR / __CLUSTER_PORT_OFFSET say which),
              with replication 3, min.insync.replicas 2 and one replica per index: what
              the copies cost beside the single node of part 3, in the same run.
7. rules      a worker on topics of its own (`--parts ...,rules`), without event rules and
              with 100 GLOBAL rules in the events' domain (SPEC §10) that never match, so
              every event tests all 300 conditions; N records sent once it runs and has
              indexed a warm-up: its CPU per event (utime+stime, whole process) in each,
              0, 100, 0, 100, and how much the rules add (issue 20's target: at most 20 %).

--profile samples the api and the worker with py-spy (when installed) during the timed
windows and prints where their time goes; it skews the figures, so leave it off for them.
Figures only: nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

from bench.peer_quix import QUIX_VERSION, run_peer
from ingest.elasticsearch.indices import ensure_alerts_index, ensure_events_template
from ingest.kafka.topics import ensure_topics
from ingest.parsers.standard import parse as parse_standard
from ingest.process.correlate import alert_id_for
from ingest.process.normalize import Position, record_origin, to_events, with_alert_id
from ingest.rules.log import EventRuleLog
from query_api.services import event_rules
from query_api.services.event_rules import EventRuleStore
from query_api.services.webhooks import open_store
from schemas.apikey import Caller
from schemas.event_rule import EventRuleCreate
from schemas.index import events_index_for, events_index_pattern
from schemas.settings import Settings
from schemas.webhook import PluginInfo, WebhookCreate
from tests.integration.pipeline import (
    _remove,
    pipeline_settings,
    produce_standard_events,
    revealed,
    settings_environment,
)

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_MB = 1024 * 1024

RATIO_TARGET = 0.8
CPU_US_TARGET = 50.0
INTAKE_RPS_TARGET = 5000.0
INTAKE_P99_MS_TARGET = 50.0
SEARCHABLE_P50_S_TARGET = 1.0
SEARCHABLE_P99_S_TARGET = 2.0
PEER_RATIO_TARGET = 2.0  # processor events/s over the peer's, same run
RSS_MB_TARGET = 300.0
SAMPLE_EVERY = 10  # part 4: every 10th event is followed until searchable
POLL_SECONDS = 0.05
# Each scrape costs the worker ~1-2 ms of CPU (its process collector reads /proc): often
# enough to time the window well, rarely enough to stay out of the per-event CPU figure.
METRICS_POLL_SECONDS = 0.25


# ---- figures --------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    measured: str
    target: str = ""
    met: bool | None = None


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)  # part -> events/s, for ratios
    docs: list[dict[str, Any]] = field(default_factory=list)  # the ceiling's documents

    def add(self, name: str, measured: str, target: str = "", met: bool | None = None) -> None:
        self.figures.append(Figure(name, measured, target, met))
        print(f"  {name}: {measured}" + (f"  (target {target})" if target else ""), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def print(self) -> None:
        rows = [("figure", "measured", "target", "met")]
        for f in self.figures:
            met = "" if f.met is None else ("yes" if f.met else "NO")
            rows.append((f.name, f.measured, f.target, met))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        line = "+".join("-" * (w + 2) for w in widths)
        print("\n" + line)
        for n, row in enumerate(rows):
            print("|".join(f" {cell:<{w}} " for cell, w in zip(row, widths, strict=True)))
            if n == 0:
                print(line)
        print(line)
        for text in self.notes:
            print(f"* {text}")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---- processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """A `python -m deploy.cli <command>` child, its output in a log file; stopped by its pid."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", *command],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def stop(self) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)


async def wait_http(url: str, child: Child, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited; log: {child.log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{child.name} not answering {url}; log: {child.log}")


PROFILE_DIR: Path | None = None  # --profile: py-spy records each timed window here


@contextlib.asynccontextmanager
async def profiled(pid: int, label: str) -> AsyncIterator[None]:
    """With --profile, py-spy samples `pid` (non-blocking) during the block; prints the top."""
    spy = py_spy()
    if PROFILE_DIR is None or spy is None:
        yield
        return
    out = PROFILE_DIR / f"{label}.txt"
    command = [spy, "record", "--pid", str(pid), "--nonblocking", "--rate", "200"]
    command += ["--format", "raw", "--output", str(out)]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    print_profile(out, label)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def print_profile(path: Path, label: str, top: int = 25) -> None:
    """Inclusive and self share of samples per function, from py-spy's collapsed stacks."""
    if not path.exists():
        print(f"  profile {label}: py-spy wrote nothing")
        return
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            name, _, where = frame.partition(" (")
            where = where.rsplit(":", 1)[0].replace(str(ROOT) + "/", "")
            frames.append(f"{name} ({where.split('site-packages/')[-1]})")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    print(f"  profile {label}: {total} samples ({path})")
    # Frames in nearly every sample (entry points, the event loop) say nothing: left out.
    inclusive = {frame: n for frame, n in inclusive.items() if n < 0.7 * total}
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"    top {title}:")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"      {count / max(total, 1) * 100:5.1f}%  {frame}")


# ---- a small keep-alive HTTP/1.1 client (no per-request overhead of a full client) -----------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        lines = response.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: `connections` keep-alive connections share `requests` POSTs of `body`."""
    body = spec["body"].encode()
    remaining = spec["requests"]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def one_connection() -> None:
        nonlocal remaining, errors
        conn = Connection(spec["host"], spec["port"])
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    status = await conn.post(spec["path"], body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    conn.close()
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(spec["connections"])))
    duration = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "accepted": statuses.get(200, 0),
        "errors": errors,
        "duration_s": duration,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "statuses": statuses,
    }


# wrk runs for its -d duration even when every thread has stopped itself, so each thread
# says START (set up) and STOP (its budget of answers reached) on stdout: the bench times
# those lines and then sends SIGINT, on which wrk reports (done) and exits.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
local budget = tonumber(os.getenv("BENCH_PER_THREAD"))
local seen = 0
function init(args)
  io.write("START\\n")
  io.flush()
end
function response(status, headers, body)
  seen = seen + 1
  if seen == budget then
    io.write("STOP\\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
  io.flush()
end
"""


async def run_wrk(
    wrk: str, url: str, body: str, requests: int, connections: int, workdir: Path
) -> dict[str, Any]:
    threads = max(1, min(2, os.cpu_count() or 1))
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "BENCH_BODY": body, "BENCH_PER_THREAD": str(max(1, requests // threads))}
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", "600s"]
    command += ["--timeout", "10s", "-s", str(script), url]
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdout is not None
    started = ended = 0.0
    stops, lines = 0, []
    try:
        async with asyncio.timeout(max(60.0, requests / 200)):
            while stops < threads and (raw := await proc.stdout.readline()):
                line = raw.decode(errors="replace").strip()
                lines.append(line)
                if line == "START" and not started:
                    started = time.perf_counter()
                elif line == "STOP":
                    stops += 1
                    ended = time.perf_counter()
    except TimeoutError:
        ended = time.perf_counter()
    try:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines += rest.decode(errors="replace").splitlines()
    line = next((x for x in lines if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError("wrk gave no figures:\n" + "\n".join(lines))
    raw = json.loads(line[6:])
    failed = raw["non2xx"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "accepted": raw["requests"] - raw["non2xx"],
        "errors": failed,
        "duration_s": ended - started,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "complete": stops == threads,
    }


async def run_load(
    host: str, port: int, path: str, body: str, requests: int, connections: int, workdir: Path
) -> tuple[str, dict[str, Any]]:
    """Load the intake from another process: wrk when installed, else our asyncio generator."""
    wrk = shutil.which("wrk")
    if wrk:
        url = f"http://{host}:{port}{path}"
        return "wrk", await run_wrk(wrk, url, body, requests, connections, workdir)
    spec = {"host": host, "port": port, "path": path, "body": body}
    spec |= {"requests": requests, "connections": connections}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.pipeline_bench", "--loadgen", json.dumps(spec),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), max(60.0, requests / 200))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return "asyncio load generator", json.loads(out.decode().strip().splitlines()[-1])


# ---- payloads -------------------------------------------------------------------------------


def alertmanager_payload(fingerprint: str, labels: dict[str, str]) -> dict[str, Any]:
    """An Alertmanager v4 notification carrying one firing alert."""
    alert_labels = {
        "alertname": "BenchAlert",
        "severity": "warning",
        "instance": "bench-1:9100",
        **labels,
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "eventpipe",
        "groupKey": '{}:{alertname="BenchAlert"}',
        "groupLabels": {"alertname": "BenchAlert"},
        "commonLabels": {"alertname": "BenchAlert"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": alert_labels,
                "annotations": {"summary": "bench alert", "description": "a benchmark alert"},
                "startsAt": "2024-05-01T10:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


def standard_request_data(i: int) -> dict[str, Any]:
    """The `data` produce_standard_events sends for event i."""
    return {"event_key": f"k{i}", "title": f"event {i}", "severity": "WARNING"}


def worker_shaped_docs(
    n: int, topic: str, partitions: int, webhook_id: str, created_at: datetime
) -> Iterator[dict[str, Any]]:
    """The documents the worker indexes for produce_standard_events' records: same code path."""
    for i in range(n):
        data = standard_request_data(i)
        position = Position(topic, i % partitions, i // partitions)
        for event in to_events(
            parse_standard(data, {}),
            payload=data,
            origin=record_origin("", position, created_at),
            created_at=created_at,
            webhook_id=webhook_id,
            project_id="project-1",
            domain_id="domain-1",
        ):
            yield json.loads(with_alert_id(event.doc, alert_id_for(event.event_id)))


# ---- part 1: ceiling ------------------------------------------------------------------------


async def part_ceiling(
    es: AsyncElasticsearch,
    prefix: str,
    n: int,
    chunk: int,
    report: Report,
    raw_topic: str,
    partitions: int,
) -> float:
    print(f"[1/4] ceiling: {n:,} documents with async_streaming_bulk", flush=True)
    now = datetime.now(UTC)
    docs = list(worker_shaped_docs(n, raw_topic, partitions, "webhook-0123456789ab", now))
    report.docs = docs
    await ensure_events_template(es, prefix)
    daily = events_index_for(prefix, now)
    await es.indices.create(index=daily)  # from the template, outside the timed window

    def actions() -> Iterator[dict[str, Any]]:
        for doc in docs:
            yield {"_op_type": "create", "_index": daily, "_id": doc["event_id"], "_source": doc}

    done, failed = 0, 0
    first_t = 0.0
    cpu0 = time.process_time()
    started = time.perf_counter()
    async for ok, _ in async_streaming_bulk(
        es, actions(), chunk_size=chunk, raise_on_error=False, max_retries=3
    ):
        done += ok
        failed += not ok
        if not first_t:  # items come out chunk by chunk, once the chunk is acknowledged
            first_t = time.perf_counter()
    ended = time.perf_counter()
    cpu = time.process_time() - cpu0
    # The first chunk's acknowledgement opens the window, as the first indexed event does
    # for the processor: the rate counts what was acknowledged after it.
    first_count = min(chunk, n)
    rate = (done - first_count) / (ended - first_t) if ended > first_t else float("nan")
    await es.indices.refresh(index=daily)
    count = (await es.count(index=daily))["count"]
    report.add("ceiling: async bulk events/s", f"{rate:,.0f}")
    report.note(
        f"ceiling: {done:,} created, {failed} failed, {count:,} searchable; whole load "
        f"{n / (ended - started):,.0f} events/s; chunk_size {chunk}, one request in flight; "
        f"client CPU {cpu / n * 1e6:.1f} us/event"
    )
    return rate


async def part_ceiling_with_alerts(
    es: AsyncElasticsearch, prefix: str, n: int, chunk: int, report: Report, docs: list[dict]
) -> float:
    """The same events with the alert document the worker writes beside each (every event of
    the bench opens an alert): what the processor asks of Elasticsearch, at its best rate."""
    print(f"[1/4] ceiling: {n:,} events and their {n:,} alerts with async_streaming_bulk")
    now = datetime.now(UTC)
    await ensure_events_template(es, prefix)
    daily, alerts = events_index_for(prefix, now), f"{prefix}-alerts"
    await es.indices.create(index=daily)
    await ensure_alerts_index(es, alerts)

    def actions() -> Iterator[dict[str, Any]]:
        for doc in docs:
            yield {"_op_type": "create", "_index": daily, "_id": doc["event_id"], "_source": doc}
            alert = {
                "alert_id": doc["alert_id"], "event_key": doc["event_key"],
                "project_id": doc["project_id"], "domain_id": doc["domain_id"],
                "state": "TRIGGERED", "urgency": "LOW", "first_event_at": doc["created_at"],
                "last_event_at": doc["created_at"], "resolved_at": None, "event_count": 1,
            }  # fmt: skip
            yield {
                "_op_type": "index",
                "_index": alerts,
                "_id": alert["alert_id"],
                "_source": alert,
            }

    done, first_t = 0, 0.0
    async for ok, _ in async_streaming_bulk(
        es, actions(), chunk_size=2 * chunk, raise_on_error=False, max_retries=3
    ):
        done += ok
        if not first_t:
            first_t = time.perf_counter()
    ended = time.perf_counter()
    events = (done - min(2 * chunk, 2 * n)) / 2
    rate = events / (ended - first_t) if ended > first_t else float("nan")
    report.add("ceiling: events + their alerts, events/s", f"{rate:,.0f}")
    report.note(
        f"ceiling with alerts: {done:,} documents acknowledged ({n:,} events, {n:,} alerts), "
        f"chunk_size {2 * chunk} (an event and its alert per pair), one request in flight"
    )
    return rate


# ---- part 2: processor ----------------------------------------------------------------------


def metrics_client() -> httpx.AsyncClient:
    """For the worker's /metrics: uncompressed, so the worker does not gzip every scrape."""
    return httpx.AsyncClient(timeout=2, headers={"Accept-Encoding": "identity"})


async def scrape_indexed(client: httpx.AsyncClient, url: str) -> float:
    try:
        text = (await client.get(url)).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("eventpipe_events_indexed_total "):
            return float(line.split()[1])
    return 0.0


async def scrape_lag(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    """eventpipe_consumer_lag_records summed over partitions, per topic."""
    try:
        text = (await client.get(url)).text
    except httpx.HTTPError:
        return {}
    lag: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("eventpipe_consumer_lag_records{"):
            labels, _, value = line.rpartition(" ")
            topic = labels.split('topic="', 1)[1].split('"', 1)[0]
            lag[topic] = lag.get(topic, 0.0) + float(value)
    return lag


async def part_processor(
    settings: Settings,
    es: AsyncElasticsearch,
    n: int,
    workdir: Path,
    report: Report,
    ceiling: float,
    running: list[Child],
    workers: int = 1,
    label: str | None = None,
) -> Child:
    label = label or ("processor" if workers == 1 else f"scale: {workers} workers")
    print(f"[3/4] {label}: pre-producing {n:,} records, then {workers} worker(s)", flush=True)
    await ensure_topics(settings)
    async with open_store(settings, es) as store:
        webhook, key = await store.create(
            WebhookCreate(
                name="bench standard",
                plugin_info=PluginInfo(plugin_id="standard"),
                project_id="project-1",
                domain_id="domain-1",
            )
        )
    t = time.perf_counter()
    await produce_standard_events(
        settings, {"webhook_id": webhook.webhook_id, "access_key": key}, 0, n
    )
    print(f"  produced {n:,} records in {time.perf_counter() - t:.1f} s", flush=True)

    children: list[Child] = []
    urls = []
    for k in range(workers):
        own = settings.model_copy(deep=True)
        if k:
            own.ingest.worker_metrics_port = free_port()
        log = workdir / (f"worker-{workers}w-{k}.log" if workers > 1 else "worker.log")
        children.append(Child("worker", ["worker"], settings_environment(own), log))
        urls.append(f"http://127.0.0.1:{own.ingest.worker_metrics_port}/metrics")
    running.extend(children)
    worker = children[0]
    rss: list[float] = []
    first: tuple[float, float, float] | None = None  # time, count, cpu
    last: tuple[float, float, float] | None = None
    progress_at, progress = time.monotonic(), -1.0
    async with contextlib.AsyncExitStack() as profile, metrics_client() as client:
        while True:
            for child in children:
                if not child.alive():
                    raise RuntimeError(f"worker exited ({child.proc.returncode}); log {child.log}")
            indexed = sum([await scrape_indexed(client, url) for url in urls])
            now, cpu = time.perf_counter(), sum(cpu_seconds(c.pid) for c in children)
            if indexed > progress:
                progress_at, progress = time.monotonic(), indexed
            elif time.monotonic() - progress_at > 120:
                raise RuntimeError(f"workers stuck at {indexed:.0f} events; log {worker.log}")
            if indexed > 0:
                rss.append(sum(rss_mb(c.pid) for c in children))
                if first is None:
                    first = (now, indexed, cpu)
                    await profile.enter_async_context(profiled(worker.pid, "worker-burst"))
            if indexed >= n:
                last = (now, indexed, cpu)
                break
            await asyncio.sleep(METRICS_POLL_SECONDS)
    assert first is not None and last is not None
    seconds, events, cpu = last[0] - first[0], last[1] - first[1], last[2] - first[2]
    rate = events / seconds if seconds > 0 else float("nan")
    per_event = cpu / events * 1e6 if events else float("nan")
    events_only = rate / ceiling
    ceiling = report.rates.get("ceiling_with_alerts", ceiling)
    ratio = rate / ceiling
    if workers > 1 or label != "processor":
        report.add(f"{label}: Kafka->ES events/s", f"{rate:,.0f}")
        if "processor" in report.rates:
            report.add(
                f"{label} / single-node processor", f"{rate / report.rates['processor']:.2f}x"
            )
        report.add(f"{label} / ceiling", f"{ratio:.2f}x")
        report.add(f"{label}: CPU per event, RSS max", f"{per_event:.0f} us, {max(rss):.0f} MB")
        report.note(
            f"{label}: {events:,.0f} events in {seconds:.1f} s, CPU {cpu:.1f} s = "
            f"{cpu / seconds * 100:.0f}% of a core over {workers} workers"
        )
        return worker
    report.rates["processor"] = rate
    report.add("processor: Kafka->ES events/s", f"{rate:,.0f}")
    report.add(
        "processor / ceiling (events + alerts)",
        f"{ratio:.2f}x", f">= {RATIO_TARGET}x", ratio >= RATIO_TARGET,
    )  # fmt: skip
    report.add("processor / ceiling (events only)", f"{events_only:.2f}x")
    report.add(
        "worker CPU per event (burst)",
        f"{per_event:.0f} us",
        f"<= {CPU_US_TARGET:.0f} us",
        per_event <= CPU_US_TARGET,
    )
    report.add(
        "worker RSS during burst (median / max)",
        f"{statistics.median(rss):.0f} / {max(rss):.0f} MB",
    )
    report.note(
        f"processor window: {events:,.0f} events in {seconds:.1f} s (first indexed batch "
        f"{first[1]:,.0f} excluded), worker CPU {cpu:.1f} s = {cpu / seconds * 100:.0f}% of a "
        f"core; batch_size {settings.ingest.batch_size}, {settings.topics.partitions} partitions"
    )
    alias = settings.indices.events
    await es.indices.refresh(index=alias)
    count = (await es.count(index=alias))["count"]
    if count != n:
        report.note(f"processor: {count:,} documents searchable, expected {n:,}")
    return worker


# ---- part 6: rules ---------------------------------------------------------------------------

RULES_TARGET = 0.20  # issue 20: 100 rules add at most 20 % to the worker's CPU per event


def bench_rules(count: int) -> list[EventRuleCreate]:
    """`count` GLOBAL rules that never match the bench's events (title "event i", severity
    WARNING, no additional_info): each of the three conditions of each rule is tested."""
    return [
        EventRuleCreate.model_validate(
            {
                "name": f"bench rule {i}",
                "conditions_policy": "ANY",
                "conditions": [
                    {"key": "title", "operator": "contain", "value": f"disk-{i}"},
                    {"key": "severity", "operator": "eq", "value": "CRITICAL"},
                    {"key": f"additional_info.team-{i % 10}", "operator": "eq", "value": f"t{i}"},
                ],
                "actions": {"change_urgency": "LOW", "add_additional_info": {"rule": str(i)}},
                "domain_id": "domain-1",
            }
        )
        for i in range(count)
    ]


async def make_rules(settings: Settings, es: AsyncElasticsearch, count: int) -> None:
    rule_log = EventRuleLog(settings)
    await rule_log.start()
    try:
        store = EventRuleStore(es, rule_log, settings.indices.event_rules)
        caller = Caller(key_id="bench", domain_id="domain-1")
        for request in bench_rules(count):
            await event_rules.create(store, caller, request)
    finally:
        await rule_log.stop()


WARM_UP_EVENTS = 2_000


async def worker_cpu_per_event(
    settings: Settings, es: AsyncElasticsearch, n: int, workdir: Path, running: list[Child],
    label: str,
) -> float:  # fmt: skip
    """The worker's CPU per event over `n` events sent to it once it runs and has taken a
    warm-up (so its start-up, and compiling the rules, are not counted; its idle timers
    are, alike in every run)."""
    async with open_store(settings, es) as store:
        webhook, key = await store.create(
            WebhookCreate(name="bench standard", plugin_info=PluginInfo(plugin_id="standard"),
                          project_id="project-1", domain_id="domain-1")
        )  # fmt: skip
    hook = {"webhook_id": webhook.webhook_id, "access_key": key}
    worker = Child("worker", ["worker"], settings_environment(settings),
                   workdir / f"worker-{label.replace(' ', '-')}.log")  # fmt: skip
    running.append(worker)
    url = f"http://127.0.0.1:{settings.ingest.worker_metrics_port}/metrics"

    async def indexed_at_least(count: int) -> None:
        async with metrics_client() as client:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if not worker.alive():
                    raise RuntimeError(f"worker exited; log {worker.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if await scrape_indexed(client, url) >= count:
                        return
                await asyncio.sleep(METRICS_POLL_SECONDS)
        raise RuntimeError(f"{label}: fewer than {count} events indexed; log {worker.log}")

    try:
        await produce_standard_events(settings, hook, 0, WARM_UP_EVENTS)
        await indexed_at_least(WARM_UP_EVENTS)
        cpu0, t0 = cpu_seconds(worker.pid), time.perf_counter()
        await produce_standard_events(settings, hook, WARM_UP_EVENTS, n)
        await indexed_at_least(WARM_UP_EVENTS + n)
        cpu, seconds = cpu_seconds(worker.pid) - cpu0, time.perf_counter() - t0
    finally:
        await worker.stop()
    report_line = f"{label}: {n:,} events in {seconds:.1f} s, worker CPU {cpu:.2f} s"
    print(f"  {report_line}", flush=True)
    return cpu / n * 1e6


async def part_rules(
    base: Settings,
    name: str,
    es: AsyncElasticsearch,
    n: int,
    workdir: Path,
    report: Report,
    running: list[Child],
) -> list[Settings]:
    """The worker's CPU per event without rules and with 100, one pipeline each, measured
    twice in turn (0, 100, 0, 100) so a change in the machine's load shows."""
    print(f"[6] rules: {n:,} events each, without rules and with 100 rules, twice", flush=True)
    made: list[Settings] = []
    figures: dict[int, list[float]] = {0: [], 100: []}
    for round_ in range(2):
        for count in (0, 100):
            settings = pipeline_settings(base, f"{name}-r{count}-{round_}",
                                         worker_metrics_port=free_port())  # fmt: skip
            made.append(settings)
            await ensure_topics(settings)
            if count:
                await make_rules(settings, es, count)
            figures[count].append(
                await worker_cpu_per_event(
                    settings, es, n, workdir, running, f"rules {count} round {round_ + 1}"
                )
            )
    without, with_rules = (statistics.mean(figures[c]) for c in (0, 100))
    growth = with_rules / without - 1
    report.add("rules: worker CPU per event, 0 rules",
               " / ".join(f"{v:.1f}" for v in figures[0]) + " us")  # fmt: skip
    report.add("rules: worker CPU per event, 100 rules",
               " / ".join(f"{v:.1f}" for v in figures[100]) + " us")  # fmt: skip
    report.add(
        "rules: CPU per event, 0 -> 100 rules (means)",
        f"{without:.1f} -> {with_rules:.1f} us ({growth * 100:+.0f} %)",
        f"<= +{RULES_TARGET * 100:.0f} %", growth <= RULES_TARGET,
    )  # fmt: skip
    return made


# ---- part 3: intake -------------------------------------------------------------------------


async def part_intake(
    settings: Settings,
    es: AsyncElasticsearch,
    requests: int,
    connections: int,
    workdir: Path,
    report: Report,
) -> None:
    print(f"[2/4] intake: {requests:,} POSTs over {connections} connections", flush=True)
    await ensure_topics(settings)  # its own topics: no worker reads them
    api = Child("api (intake)", ["api"], settings_environment(settings), workdir / "api-in.log")
    try:
        await wait_http(f"http://127.0.0.1:{settings.api.port}/healthz", api)
        async with open_store(settings, es) as store:
            webhook, key = await store.create(
                WebhookCreate(
                    name="bench intake",
                    plugin_info=PluginInfo(plugin_id="prometheus"),
                    project_id="project-1",
                    domain_id="domain-1",
                )
            )
        path = f"/monitoring/v1/webhook/{webhook.webhook_id}/{key}/events"
        body = json.dumps(alertmanager_payload("f00dfeed00000001", {}), separators=(",", ":"))
        await run_load(
            "127.0.0.1", settings.api.port, path, body, min(2000, requests), connections, workdir
        )  # warm-up
        cpu0 = cpu_seconds(api.pid)
        async with profiled(api.pid, "api-intake"):
            tool, result = await run_load(
                "127.0.0.1", settings.api.port, path, body, requests, connections, workdir
            )
        cpu = cpu_seconds(api.pid) - cpu0
        rate = result["accepted"] / result["duration_s"]
        p50, p99 = result["p50_ms"], result["p99_ms"]
        report.add(
            "intake: accepted requests/s (1 process)",
            f"{rate:,.0f}",
            f">= {INTAKE_RPS_TARGET:,.0f}",
            rate >= INTAKE_RPS_TARGET,
        )
        report.add(
            "intake: latency p50 / p99",
            f"{p50:.1f} / {p99:.1f} ms",
            f"p99 <= {INTAKE_P99_MS_TARGET:.0f} ms",
            p99 <= INTAKE_P99_MS_TARGET,
        )
        report.note(
            f"intake: {tool}, {connections} keep-alive connections, {result['requests']:,} "
            f"answered ({result['accepted']:,} accepted, {result['errors']} errors) in "
            f"{result['duration_s']:.1f} s; {len(body)}-byte body; api CPU "
            f"{cpu / max(1, result['requests']) * 1e6:.0f} us/request "
            f"({cpu / result['duration_s'] * 100:.0f}% of a core)"
        )
    finally:
        await api.stop()


# ---- part 4: webhook to searchable ----------------------------------------------------------


async def part_latency(
    settings: Settings,
    es: AsyncElasticsearch,
    worker: Child,
    rate: float,
    seconds: float,
    workdir: Path,
    report: Report,
) -> None:
    total = int(rate * seconds)
    print(f"[4/4] webhook-to-searchable: {total:,} alerts at {rate:,.0f}/s", flush=True)
    api = Child("api", ["api"], settings_environment(settings), workdir / "api.log")
    try:
        await wait_http(f"http://127.0.0.1:{settings.api.port}/healthz", api)
        async with open_store(settings, es) as store:
            webhook, key = await store.create(
                WebhookCreate(
                    name="bench latency",
                    plugin_info=PluginInfo(plugin_id="prometheus"),
                    project_id="project-1",
                    domain_id="domain-1",
                )
            )
        path = f"/monitoring/v1/webhook/{webhook.webhook_id}/{key}/events"
        run_id = secrets.token_hex(4)
        warm = Connection("127.0.0.1", settings.api.port)
        for i in range(100):  # producer started, webhook cached
            await warm.post(
                path, json.dumps(alertmanager_payload(f"warm-{run_id}-{i}", {})).encode()
            )
        warm.close()
        await asyncio.sleep(1)
        async with profiled(worker.pid, "worker-steady"), profiled(api.pid, "api-steady"):
            result = await steady_load(es, settings, path, run_id, rate, total, worker)
    finally:
        await api.stop()

    found, lost = result["found"], result["lost"]
    p50, p99 = percentile(found, 50), percentile(found, 99)
    report.add(
        "webhook->searchable p50 / p99",
        f"{p50:.2f} / {p99:.2f} s",
        f"<= {SEARCHABLE_P50_S_TARGET} / {SEARCHABLE_P99_S_TARGET} s",
        p50 <= SEARCHABLE_P50_S_TARGET and p99 <= SEARCHABLE_P99_S_TARGET and not lost,
    )
    rss = result["rss"]
    median_rss = statistics.median(rss)
    report.add(
        "worker RSS steady 1k/s (median / max)",
        f"{median_rss:.0f} / {max(rss):.0f} MB",
        f"<= {RSS_MB_TARGET:.0f} MB",
        max(rss) <= RSS_MB_TARGET,
    )
    report.add("worker CPU per event (steady)", f"{result['worker_us']:.0f} us")
    refresh = await es.indices.get_settings(
        index=events_index_pattern(settings.indices.events), name="index.refresh_interval"
    )
    intervals = sorted({s["settings"]["index"]["refresh_interval"] for s in refresh.values()})
    report.note(
        f"latency: {len(found):,} of {result['sampled']:,} sampled events found "
        f"({lost} never), searched by event_key every {POLL_SECONDS * 1000:.0f} ms, time to "
        f"the search that first returned it; refresh_interval {', '.join(intervals)} (the "
        f"template's); sent {result['sent']:,} at {result['send_rate']:,.0f}/s, intake answered "
        f"p50 {result['http_p50'] * 1000:.1f} ms / p99 {result['http_p99'] * 1000:.1f} ms, "
        f"{result['non200']} not 200"
    )
    to_kafka, from_kafka = result["to_kafka"], result["from_kafka"]
    lags = ", ".join(f"{topic} {value:,.0f}" for topic, value in sorted(result["lag"].items()))
    report.note(
        f"latency split (record timestamp, ms clock): send->Kafka p50 "
        f"{percentile(to_kafka, 50):.2f} / p99 {percentile(to_kafka, 99):.2f} s, Kafka->searchable "
        f"p50 {percentile(from_kafka, 50):.2f} / p99 {percentile(from_kafka, 99):.2f} s; largest "
        f"consumer lag seen (records): {lags or 'none reported'}"
    )


async def steady_load(
    es: AsyncElasticsearch,
    settings: Settings,
    path: str,
    run_id: str,
    rate: float,
    total: int,
    worker: Child,
) -> dict[str, Any]:
    connections = 32
    queue: asyncio.Queue[tuple[int, float, float] | None] = asyncio.Queue()
    pending: dict[str, tuple[float, float]] = {}  # sampled event_key -> scheduled send time
    found: list[float] = []
    to_kafka: list[float] = []  # scheduled send -> the raw record's timestamp (created_at)
    from_kafka: list[float] = []  # created_at -> the search that found it
    lag: dict[str, float] = {}  # topic -> the largest summed consumer lag seen
    http: list[float] = []
    non200 = 0
    sending = True
    rss: list[float] = []

    async def schedule() -> None:
        started, wall = time.perf_counter(), time.time()
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            queue.put_nowait((i, due, wall + i / rate))
        for _ in range(connections):
            queue.put_nowait(None)

    async def send() -> None:
        nonlocal non200
        conn = Connection("127.0.0.1", settings.api.port)
        try:
            while (item := await queue.get()) is not None:
                i, due, due_wall = item
                fingerprint = f"{run_id}-{i:08d}"
                sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")
                body = json.dumps(
                    alertmanager_payload(fingerprint, {"bench_sent_at": sent_at}),
                    separators=(",", ":"),
                ).encode()
                if i % SAMPLE_EVERY == 0:
                    pending[fingerprint] = (due, due_wall)
                try:
                    status = await conn.post(path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status = 0
                    conn.close()
                http.append(time.perf_counter() - due)
                if status != 200:
                    non200 += 1
                    pending.pop(fingerprint, None)
        finally:
            conn.close()

    async def poll() -> None:
        alias = settings.indices.events
        while sending or pending:
            keys = list(pending)[:2000]
            if keys:
                response = await es.options(ignore_status=404).search(
                    index=alias,
                    query={"terms": {"event_key": keys}},
                    size=len(keys),
                    source=["event_key", "created_at"],
                    filter_path=["hits.hits._source"],
                )
                now, now_wall = time.perf_counter(), time.time()
                for hit in response.get("hits", {}).get("hits", []):
                    sent = pending.pop(hit["_source"]["event_key"], None)
                    if sent is not None:
                        found.append(now - sent[0])
                        created = datetime.fromisoformat(
                            hit["_source"]["created_at"].replace("Z", "+00:00")
                        ).timestamp()
                        to_kafka.append(created - sent[1])
                        from_kafka.append(now_wall - created)
            await asyncio.sleep(POLL_SECONDS)

    async def sample_rss() -> None:
        url = f"http://127.0.0.1:{settings.ingest.worker_metrics_port}/metrics"
        async with metrics_client() as client:
            while sending:
                rss.append(rss_mb(worker.pid))
                for topic, value in (await scrape_lag(client, url)).items():
                    lag[topic] = max(lag.get(topic, 0.0), value)
                await asyncio.sleep(0.5)

    cpu0 = cpu_seconds(worker.pid)
    started = time.perf_counter()
    poller = asyncio.create_task(poll())
    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(schedule(), *(send() for _ in range(connections)))
    send_seconds = time.perf_counter() - started
    sending = False
    await sampler
    try:
        await asyncio.wait_for(poller, 30)
    except TimeoutError:
        pass
    worker_cpu = cpu_seconds(worker.pid) - cpu0
    sampled = len(range(0, total, SAMPLE_EVERY))
    return {
        "found": found,
        "to_kafka": to_kafka,
        "from_kafka": from_kafka,
        "lag": lag,
        "lost": len(pending),
        "sampled": sampled,
        "rss": rss,
        "sent": total,
        "send_rate": total / send_seconds,
        "non200": non200,
        "http_p50": percentile(http, 50),
        "http_p99": percentile(http, 99),
        "worker_us": worker_cpu / total * 1e6,
    }


# ---- peer: Quix Streams' ElasticsearchSink (bench/peer_quix.py) ------------------------------


async def part_peer(
    settings: Settings,
    es: AsyncElasticsearch,
    n: int,
    chunk: int,
    ceiling: float,
    workdir: Path,
    report: Report,
) -> None:
    """The ceiling's documents through Quix Streams' sink: names of `settings`, same node."""
    print(f"[peer] Quix Streams {QUIX_VERSION} ElasticsearchSink: {n:,} documents", flush=True)
    await ensure_topics(settings)  # settings.topics.raw carries the documents
    now = datetime.now(UTC)
    topic, partitions = settings.topics.raw, settings.topics.partitions
    docs = list(worker_shaped_docs(n, topic, partitions, "webhook-0123456789ab", now))
    peer = await run_peer(settings, es, docs, chunk, workdir)
    report.rates["peer"] = peer.events_per_s
    name = f"peer: Quix Streams {QUIX_VERSION} ElasticsearchSink events/s"
    report.add(name, f"{peer.events_per_s:,.0f}")
    report.add("peer / ceiling", f"{peer.events_per_s / ceiling:.2f}x")
    report.add("peer CPU per event", f"{peer.cpu_us_per_event:.0f} us")
    report.note(
        f"peer window: {peer.written:,} documents in {peer.window_s:.1f} s from the first "
        f"record at the sink to the last write acknowledged, {peer.writing_s:.1f} s of it in "
        f"{peer.writes} sink writes; process CPU {peer.cpu_share * 100:.0f}% of a core; "
        f"{peer.written:,} written, {peer.searchable:,} searchable; sink batch_size "
        f"{peer.batch_size}, commit_interval {peer.commit_interval_s:g} s, "
        f"{settings.topics.partitions} partitions; whole run {peer.whole_s:.1f} s (with the "
        f"app's start and group join)"
    )


def report_peer_ratio(report: Report) -> None:
    """processor / peer events/s, when both ran."""
    if "peer" not in report.rates or "processor" not in report.rates:
        return
    ratio = report.rates["processor"] / report.rates["peer"]
    report.add(
        "processor / peer",
        f"{ratio:.2f}x",
        f">= {PEER_RATIO_TARGET:g}x",
        ratio >= PEER_RATIO_TARGET,
    )


# ---- end of peer ----------------------------------------------------------------------------


# ---- cleanup --------------------------------------------------------------------------------


async def delete_group(settings: Settings, group: str) -> None:
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        for _ in range(20):
            coordinator = await admin.find_coordinator(group)
            response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
            codes = [code for _, code in response.results]
            if all(code in (0, 69) for code in codes):  # 69: GROUP_ID_NOT_FOUND
                return
            await asyncio.sleep(1)  # 68: NON_EMPTY_GROUP, the worker's session not over yet
        print(f"  could not delete consumer group {group}: {codes}", flush=True)
    finally:
        await admin.close()


async def cleanup(
    es: AsyncElasticsearch, pipelines: list[Settings], ceiling_prefixes: list[str]
) -> None:
    for settings in pipelines:
        with contextlib.suppress(Exception):
            await _remove(settings, es)
        for group in (settings.ingest.worker_group, settings.ingest.parse_group):
            with contextlib.suppress(Exception):
                await delete_group(settings, group)
        shutil.rmtree(
            settings.engines.cache_dir / "faust" / settings.ingest.worker_group, ignore_errors=True
        )
    for prefix in ceiling_prefixes:
        daily = await es.indices.get(index=events_index_pattern(prefix), allow_no_indices=True)
        if daily:
            await es.indices.delete(index=",".join(daily))
        await es.options(ignore_status=404).indices.delete_index_template(name=prefix)


# ---- part 6: the processor on a cluster ---------------------------------------------------------


def cluster_settings(base: Settings, nodes: int) -> Settings:
    """`base` pointed at the local cluster as `eventpipe engines env` says."""
    from deploy.engines.cluster import client_environment

    data = revealed(base)
    for name, value in client_environment(base.engines, nodes).items():
        group, key = name.removeprefix("EVENTPIPE_").lower().split("__")
        data[group][key] = value
    data["elasticsearch"]["password"] = None  # the cluster's, from its file
    return Settings.model_validate(data)


async def part_cluster(
    base: Settings,
    name: str,
    n: int,
    workdir: Path,
    report: Report,
    ceiling: float,
    running: list[Child],
    nodes: int = 3,
) -> None:
    from deploy.engines import cluster

    plan = cluster.ClusterPlan(nodes, base.engines)
    rows = await asyncio.to_thread(cluster.status, plan)
    already = all(row.healthy for members in rows.values() for row in members)
    print(f"[6] cluster: {nodes} brokers + {nodes} nodes ({'running' if already else 'starting'})",
          flush=True)  # fmt: skip
    await asyncio.to_thread(cluster.up, base.engines, nodes)
    settings = pipeline_settings(
        cluster_settings(base, nodes), f"{name}-cl", worker_metrics_port=free_port()
    )
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    try:
        label = f"cluster ({nodes} brokers, {nodes} nodes)"
        worker = await part_processor(
            settings, es, n, workdir, report, ceiling, running, label=label
        )
        await worker.stop()
        report.note(
            f"{label}: replication {settings.topics.replication_factor}, min.insync.replicas "
            f"{settings.topics.min_insync_replicas}, {settings.indices.replicas} replica per "
            f"index, heaps {base.engines.cluster_kafka_heap} / "
            f"{base.engines.cluster_elasticsearch_heap} (single node: "
            f"{base.engines.kafka_heap} / {base.engines.elasticsearch_heap})"
        )
    finally:
        await cleanup(es, [settings], [])
        await es.close()
        if not already:
            await asyncio.to_thread(cluster.down, base.engines, nodes)


# ---- main -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def children() -> AsyncIterator[list[Child]]:
    running: list[Child] = []
    try:
        yield running
    finally:
        for child in running:
            await child.stop()


async def run(args: argparse.Namespace) -> int:
    name = f"pbench-{secrets.token_hex(4)}"
    base = Settings()
    main = pipeline_settings(base, name, worker_metrics_port=free_port())
    main.api.port = free_port()
    scaled = pipeline_settings(base, f"{name}-2w", worker_metrics_port=free_port())
    # The intake figure is its capacity for one webhook: the per-webhook limit (its bucket
    # still runs) is set above what one process can serve.
    intake = pipeline_settings(
        base, f"{name}-in", worker_metrics_port=0, webhook_rate_per_second=1_000_000
    )
    intake.api.port = free_port()
    peer = pipeline_settings(base, f"{name}-peer", worker_metrics_port=0)
    ceiling_prefix = f"{name}-ceiling-events"
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = workdir
    report = Report()
    print(
        f"pipeline bench {name}: logs in {workdir}; {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )
    es = AsyncElasticsearch(**main.elasticsearch.client_options())
    rule_pipelines: list[Settings] = []
    started = time.perf_counter()
    try:
        async with children() as running:
            ceiling = await part_ceiling(
                es,
                ceiling_prefix,
                args.events,
                main.ingest.batch_size,
                report,
                main.topics.raw,
                main.topics.partitions,
            )
            report.rates["ceiling_with_alerts"] = await part_ceiling_with_alerts(
                es, f"{name}-wa-events", args.events, main.ingest.batch_size, report,
                report.docs,
            )  # fmt: skip
            report.docs = []
            if "peer" in args.parts:
                await part_peer(
                    peer, es, args.events, main.ingest.batch_size, ceiling, workdir, report
                )
            if "intake" in args.parts:
                await part_intake(
                    intake, es, args.intake_requests, args.connections, workdir, report
                )
            if "processor" in args.parts:
                worker = await part_processor(
                    main, es, args.events, workdir, report, ceiling, running
                )
                if "latency" in args.parts:
                    await part_latency(main, es, worker, args.rate, args.seconds, workdir, report)
                await worker.stop()
            if "scale" in args.parts:
                await part_processor(
                    scaled, es, args.events, workdir, report, ceiling, running, workers=2
                )
            if "cluster" in args.parts:
                await part_cluster(base, name, args.events, workdir, report, ceiling, running)
            if "rules" in args.parts:
                rule_pipelines += await part_rules(
                    base, name, es, args.events, workdir, report, running
                )
    finally:
        print("cleaning up", flush=True)
        await cleanup(es, [main, scaled, intake, peer, *rule_pipelines],
                      [ceiling_prefix, f"{name}-wa-events"])  # fmt: skip
        await es.close()
    report_peer_ratio(report)
    report.note(f"whole run {time.perf_counter() - started:.0f} s; logs in {workdir}")
    report.print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=100_000, help="parts 1 and 2")
    parser.add_argument("--rate", type=float, default=1000.0, help="part 4, events/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="part 4")
    parser.add_argument("--intake-requests", type=int, default=20_000, help="part 3")
    parser.add_argument("--connections", type=int, default=64, help="part 3")
    parser.add_argument(
        "--parts",
        default="peer,intake,processor,latency",
        help="which of peer, intake, processor, latency, scale, cluster, rules to run (the "
        "ceiling always runs; latency needs processor; scale runs the processor again with two "
        "workers; cluster runs it on the 3-node clusters of `engines up --nodes 3`; rules runs "
        "it with 0 and with 100 event rules)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy each timed window (skews the figures)"
    )
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)  # the fallback load generator
    args = parser.parse_args(argv)
    if args.loadgen:
        print(json.dumps(asyncio.run(_loadgen(json.loads(args.loadgen)))))
        return 0

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on SIGTERM as on Ctrl-C
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
