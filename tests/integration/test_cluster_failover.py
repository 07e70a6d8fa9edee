"""One broker, one Elasticsearch node and one worker SIGKILLed under webhook load, on 3-node
clusters: only 200 and 503, refusals only within 10 s of the broker's death, afterwards
every payload indexed exactly once and nothing else.

The clusters are the test's own (`local_cluster`: 3 KRaft brokers with replication 3 and
min.insync.replicas 2, 3 Elasticsearch nodes with one replica per index), on ports and in
folders of their own. Two intakes (`eventpipe api` and `eventpipe intake`) and two
workers run as real processes; a worker that exits is started again 3 s later, as a
supervisor would. The sender behaves as Alertmanager does: it posts each payload until it is
answered 200, waiting `Retry-After` after a 503 (capped backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from elasticsearch import AsyncElasticsearch

from ingest.kafka.topics import describe, ensure_topics, wanted_topics
from query_api.services.apikeys import ApiKeyStore
from schemas.settings import Settings
from tests.integration.cluster_instance import LocalCluster, local_cluster
from tests.integration.faults import group_members_are, indexed_keys
from tests.integration.kafka_instance import free_port
from tests.integration.pipeline import (
    ROOT,
    WorkerProcess,
    pipeline_settings,
    settings_environment,
)

RATE = 200  # new payloads a second
CONNECTIONS = 200  # keep-alive connections per intake: requests in flight at once
WEBHOOKS = 8  # records are keyed by webhook: several spread the load over the partitions
# Seconds of load: before the broker's death, until the Elasticsearch node's, until the
# worker's (the broker's failover still going on: it is fenced after 5 s), and after.
BEFORE, AFTER_BROKER, AFTER_NODE, AFTER = 6.0, 1.5, 1.5, 18.0
REFUSALS_WITHIN = 10.0


class IntakeProcess:
    """`eventpipe api` (the intake and the Event API) or `eventpipe intake` (the intake
    alone) as a child process on a free port."""

    def __init__(self, settings: Settings, log: Path, command: str = "api") -> None:
        self.settings = settings.model_copy(deep=True)
        self.settings.api.port = free_port()
        self.log = log
        self.command = command
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api.port}"

    async def start(self) -> None:
        out = await asyncio.to_thread(open, self.log, "ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deploy.cli", self.command,
                cwd=ROOT, env=settings_environment(self.settings), stdout=out, stderr=out,
            )  # fmt: skip
        finally:
            out.close()

    async def ready(self, http: httpx.AsyncClient) -> bool:
        try:
            return (await http.get(f"{self.url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand: a tenth of an HTTP library's CPU
    per request, so the sender keeps its pace on a busy machine and times answers when
    they arrive."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, float | None]:
        """(status, Retry-After); a kept-alive connection the server closed meanwhile is
        opened again once, as HTTP clients do."""
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(
                    b"POST %s HTTP/1.1\r\nHost: intake\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
                )
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before an answer")
            except (ConnectionError, OSError):
                self.close()
                if fresh or attempt:
                    raise
                continue
            headers = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            await self.reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection") == "close":
                self.close()
            retry_after = headers.get("retry-after")
            return int(status_line.split()[1]), float(retry_after) if retry_after else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Sender:
    """Alertmanager's way: each payload posted until 200, a 503 retried after Retry-After
    (capped backoff), over CONNECTIONS keep-alive connections per intake."""

    intakes: list[int]  # ports
    paths: list[str]  # one per webhook
    answers: Counter[int] = field(default_factory=Counter)
    refusals: list[float] = field(default_factory=list)  # monotonic times of 503 answers
    refusal_times: list[float] = field(default_factory=list)  # how long each 503 took
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (answered at, seconds)
    accepted: set[int] = field(default_factory=set)
    failed: dict[int, Any] = field(default_factory=dict)  # payload -> unexpected answer

    async def run(self, stop: asyncio.Event) -> tuple[int, float]:
        """Start RATE payloads a second until `stop`, then finish their deliveries; return
        how many were sent and the rate they were started at."""
        ready: asyncio.Queue[tuple[int, float]] = asyncio.Queue()  # (payload, backoff)
        loop = asyncio.get_running_loop()
        waiting = 0  # payloads not yet answered 200 (or failed)
        answered_all = asyncio.Event()

        def done_with_one() -> None:
            nonlocal waiting
            waiting -= 1
            if waiting == 0 and stop.is_set():
                answered_all.set()

        async def connection(port: int) -> None:
            conn = Connection("127.0.0.1", port)
            try:
                while True:
                    i, backoff = await ready.get()
                    body = (b'{"event_key": "k%d", "title": "event %d", "severity": "WARNING"}'
                            % (i, i))  # fmt: skip
                    asked = time.monotonic()
                    try:
                        status, retry_after = await conn.post(self.paths[i % len(self.paths)], body)
                    except (ConnectionError, OSError) as error:
                        self.answers[-1] += 1
                        self.failed[i] = repr(error)
                        done_with_one()
                        continue
                    answered = time.monotonic()
                    self.latencies.append((answered, answered - asked))
                    self.answers[status] += 1
                    if status == 503:
                        self.refusals.append(answered)
                        self.refusal_times.append(answered - asked)
                        delay = min(retry_after or backoff, backoff)
                        loop.call_later(delay, ready.put_nowait, (i, min(backoff * 2, 2.0)))
                        continue
                    done_with_one()
                    if status == 200:
                        self.accepted.add(i)
                    else:
                        self.failed[i] = status
            finally:
                conn.close()

        tasks = [asyncio.create_task(connection(port))
                 for port in self.intakes for _ in range(CONNECTIONS)]  # fmt: skip
        started = time.monotonic()
        i = 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, started + i / RATE - time.monotonic()))
            if stop.is_set():  # set during the sleep: this payload is not sent
                break
            waiting += 1
            ready.put_nowait((i, 0.25))
            i += 1
        rate = i / (time.monotonic() - started)
        if waiting == 0:
            answered_all.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered_all.wait(), 120)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return i, rate


def longest_spell(times: list[float], gap: float = 1.0) -> float:
    """The longest run of refusals with no pause longer than `gap` seconds between them."""
    longest, start, last = 0.0, None, None
    for t in sorted(times):
        if last is None or t - last > gap:
            start = t
        last = t
        assert start is not None
        longest = max(longest, last - start)
    return longest


async def supervise(workers: list[WorkerProcess], restarts: list[tuple[int, int]]) -> None:
    """What systemd's Restart=always does: a worker that exited is started again after 3 s
    (the README: a worker exits for its supervisor to restart it)."""
    while True:
        await asyncio.sleep(0.5)
        for i, worker in enumerate(workers):
            if worker.proc is not None and worker.proc.returncode is not None:
                restarts.append((i, worker.proc.returncode))
                await asyncio.sleep(3)
                await worker.start()


@asynccontextmanager
async def services(
    settings: Settings, tmp_path: Path, http: httpx.AsyncClient, restarts: list[tuple[int, int]]
) -> AsyncIterator[tuple[list[IntakeProcess], list[WorkerProcess]]]:
    # One `eventpipe api` (webhooks are created through it), one `eventpipe intake`.
    intakes = [IntakeProcess(settings, tmp_path / f"intake-{i}.log", command)
               for i, command in enumerate(("api", "intake"))]  # fmt: skip
    workers = [WorkerProcess(settings, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        for process in (*intakes, *workers):
            await process.start()
        deadline = time.monotonic() + 180
        while not all([await intake.ready(http) for intake in intakes]):
            assert time.monotonic() < deadline, f"intakes not ready; logs in {tmp_path}"
            await asyncio.sleep(0.5)
        while not await group_members_are(settings, 2):
            assert time.monotonic() < deadline, f"workers not in their group; logs in {tmp_path}"
            await asyncio.sleep(0.5)
        supervisor = asyncio.create_task(supervise(workers, restarts))
        try:
            yield intakes, workers
        finally:
            supervisor.cancel()
    finally:
        for process in (*intakes, *workers):
            await process.stop()


async def test_broker_node_and_worker_killed_under_load(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    async with local_cluster(settings.engines, tmp_path / "cluster") as engines:
        await run_failover(engines, settings, unique_name, tmp_path)


async def run_failover(engines: LocalCluster, base: Settings, name: str, tmp_path: Path) -> None:
    ours = engines.settings(base)
    ours.topics.partitions = 6
    ours = pipeline_settings(ours, name, worker_metrics_port=0)
    await ensure_topics(ours)
    es = AsyncElasticsearch(**ours.elasticsearch.client_options())
    keys = ApiKeyStore(es, ours.indices.apikeys, ours.indices.replicas)
    admin_key, _ = await keys.create(None)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
    restarts: list[tuple[int, int]] = []  # (worker, exit code) restarted by the supervisor
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, pool=None), limits=limits) as http,
        services(ours, tmp_path, http, restarts) as (intakes, workers),
    ):
        hooks = []
        for i in range(WEBHOOKS):
            response = await http.post(
                f"{intakes[0].url}/monitoring/v1/webhook/create",
                headers={"Authorization": f"Bearer {admin_key}"},
                json={"name": f"hook {i}", "plugin_info": {"plugin_id": "standard"},
                      "project_id": "project-1", "domain_id": "domain-1"},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            hooks.append(response.json())
        # Every topic at the replication asked, the webhooks topic and the changelog included.
        admin = AIOKafkaAdminClient(bootstrap_servers=ours.kafka.bootstrap_servers)
        await admin.start()
        try:
            names = [*wanted_topics(ours)]
            names += [
                t for t in await admin.list_topics() if t.startswith(ours.ingest.worker_group)
            ]
            layouts = await describe(admin, names)
        finally:
            await admin.close()
        assert any("changelog" in name for name in layouts), layouts
        assert {name: (lay.replication_factor, lay.min_insync_replicas)
                for name, lay in layouts.items()} == {name: (3, 2) for name in names}  # fmt: skip

        paths = [f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"
                 for hook in hooks]  # fmt: skip
        sender = Sender([intake.settings.api.port for intake in intakes], paths)
        stop = asyncio.Event()
        sending = asyncio.create_task(sender.run(stop))

        await asyncio.sleep(BEFORE)
        leaders = await engines.leaders(ours.topics.raw)
        broker = leaders.most_common(1)[0][0]
        engines.kill_broker(broker)
        broker_died = time.monotonic()
        await asyncio.sleep(AFTER_BROKER)
        node = 0 if broker != 0 else 1  # another machine's node, as a second fault would be
        engines.kill_elasticsearch(node)
        await asyncio.sleep(AFTER_NODE)
        await workers[0].kill()  # during the failover: the other worker takes its partitions
        await asyncio.sleep(AFTER)
        ready = await http.get(f"{intakes[1].url}/readyz")  # degraded, still ready
        assert ready.status_code == 200, ready.text
        stop.set()
        sent, rate = await sending

        accepted = sender.accepted
        index = ours.indices.events
        deadline = time.monotonic() + 240
        while True:
            counted = await indexed_keys(es, index) if await es.indices.exists_alias(
                name=index) else Counter()  # fmt: skip
            if len(counted) >= len(accepted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        await asyncio.sleep(3)  # a late duplicate would show up here
        counted = await indexed_keys(es, index)
        wanted = {f"k{i}" for i in accepted}
        lost = wanted - set(counted)
        extra = set(counted) - wanted
        duplicates = sum(n - 1 for n in counted.values())
        before = sorted(s for t, s in sender.latencies if t < broker_died)
        p50, p99 = (before[len(before) // 2], before[int(len(before) * 0.99)]) if before else (0, 0)
        late = [
            f"{t - broker_died:.1f} s (answered in {took:.1f} s)"
            for t, took in zip(sender.refusals, sender.refusal_times, strict=True)
            if t - broker_died > REFUSALS_WITHIN
        ]
        early = [t for t in sender.refusals if t < broker_died]
        first = min(sender.refusals, default=broker_died) - broker_died
        last = max(sender.refusals, default=broker_died) - broker_died
        print(
            f"\n{sent} payloads at {rate:.0f}/s over {len(intakes)} intakes; answers by code: "
            f"{dict(sender.answers)}; accepted {len(accepted)}, indexed {sum(counted.values())}, "
            f"lost {len(lost)}, duplicates {duplicates}, other events {len(extra)}; broker "
            f"{broker} (led {leaders[broker]} of {sum(leaders.values())} partitions) killed; "
            f"refusals {len(sender.refusals)}, from {first:.1f} s to {last:.1f} s after its death, "
            f"longest refusal spell {longest_spell(sender.refusals):.1f} s; "
            f"workers restarted by the supervisor (worker, exit code): {restarts}; "
            f"answer time before the kill p50 {p50:.2f} s, p99 {p99:.2f} s; "
            f"unexpected answers {list(sender.failed.items())[:5]}"
        )
        await es.close()
        print(f"readyz with a broker and a node down: {ready.json()}")
        assert ready.json()["status"] == "degraded", ready.json()
        assert set(sender.answers) <= {200, 503}, sender.answers
        assert not sender.failed
        assert len(accepted) == sent  # the sender retried every refusal to a 200
        assert rate >= RATE * 0.8, f"the sender kept up {rate:.0f} payloads/s only"
        assert not early and not late, (early[:5], late[:20], len(late))
        assert not lost, sorted(lost)[:20]
        assert not extra, sorted(extra)[:20]
        assert duplicates == 0
