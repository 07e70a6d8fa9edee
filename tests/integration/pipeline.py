"""A whole pipeline for one test: its own topics, indices and consumer group.

The HTTP service runs in the test process (httpx over ASGI, lifespan included);
the stream processor runs as a real `eventpipe worker` process, so tests can
SIGKILL and SIGTERM it. Everything is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI
from pydantic import SecretStr

from ingest.kafka.topics import ensure_topics, topic_names
from query_api.grpc.server import GrpcServer, start_grpc_server
from query_api.rest.app import create_app
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def revealed(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets included (for a copy or a child process)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value) if isinstance(value, Path) else value

    return dict(plain(settings.model_dump()))


def pipeline_settings(base: Settings, name: str, **ingest: Any) -> Settings:
    """`base` with every topic, index and group renamed after `name`."""
    data = revealed(base)
    data["topics"].update(
        raw=f"{name}.raw", normalized=f"{name}.normalized", dlq=f"{name}.dlq",
        webhooks=f"{name}.webhooks", event_rules=f"{name}.event-rules",
    )  # fmt: skip
    data["indices"].update(
        events=f"{name}-events", alerts=f"{name}-alerts", notes=f"{name}-notes",
        alert_numbers=f"{name}-alert-numbers", apikeys=f"{name}-apikeys",
        webhooks=f"{name}-webhooks", event_rules=f"{name}-event-rules",
    )  # fmt: skip
    data["ingest"].update(worker_group=f"{name}-worker", **ingest)
    data["api"]["grpc_port"] = 0  # no fixed port in tests: a test starts gRPC on a free one
    return Settings.model_validate(data)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The EVENTPIPE_* variables that make a child process see `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPIPE_")}
    data = revealed(settings)
    for group, values in data.items():
        for key, value in values.items():
            if value is not None:
                env[f"EVENTPIPE_{group}__{key}".upper()] = str(value)
    return env


class WorkerProcess:
    """`eventpipe worker` as a child process."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = await asyncio.to_thread(open, self.log, "ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deploy.cli", "worker",
                cwd=ROOT, env=settings_environment(self.settings), stdout=out, stderr=out,
            )  # fmt: skip
        finally:
            out.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def terminate(self) -> tuple[float, int]:
        """SIGTERM; returns (seconds until it exited, exit code)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                code = await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
        return time.monotonic() - started, code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.terminate()


async def produce_standard_events(
    settings: Settings, webhook: dict[str, Any], start: int, count: int, event_type: str = "ALERT"
) -> None:
    """`count` CreateEventRequests for a `standard` webhook, one event each, keys k<start+i>."""
    producer = AIOKafkaProducer(**settings.kafka.client_options(), acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for i in range(start, start + count):
            request = {
                "webhook_id": webhook["webhook_id"],
                "access_key": webhook["access_key"],
                "data": {
                    "event_key": f"k{i}",
                    "title": f"event {i}",
                    "severity": "WARNING",
                    "event_type": event_type,
                },
            }
            pending.append(await producer.send(settings.topics.raw, json.dumps(request).encode()))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


class TcpProxy:
    """A loopback TCP proxy that can be cut and restored: Elasticsearch 'going away'."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class Pipeline:
    """Handles to one test's pipeline: HTTP client, admin key, a webhook, ES, the worker."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, es: AsyncElasticsearch,
                 worker: WorkerProcess) -> None:  # fmt: skip
        self.tmp = worker.log.parent
        self.settings = settings
        self.http = http
        self.es = es
        self.worker = worker
        self.admin_key = ""

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    async def create_webhook(self, plugin_id: str, domain: str = "domain-1") -> dict[str, Any]:
        return await create_webhook(self.http, self.admin_key, domain, plugin_id=plugin_id)

    async def list_events(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for _ in range(20):
            response = await self.http.post(
                "/monitoring/v1/event/list", headers=self.auth(), json=body or {}
            )
            if response.status_code != 503:  # 503: retry, as the API asks
                break
            await asyncio.sleep(0.25)
        assert response.status_code == 200, response.text
        return response.json()

    async def count_indexed(self) -> int:
        index = self.settings.indices.events
        if not await self.es.indices.exists_alias(name=index):
            return 0
        await self.es.indices.refresh(index=index)
        return int((await self.es.count(index=index))["count"])

    async def wait_for(
        self, check: Callable[[], Awaitable[bool]], seconds: float, what: str
    ) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await check():
                return
            assert self.worker.proc is None or self.worker.proc.returncode is None, (
                f"worker exited ({self.worker.proc.returncode}); log: {self.worker.log}"
            )
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; worker log: {self.worker.log}")


@asynccontextmanager
async def running_pipeline(
    base: Settings,
    name: str,
    tmp_path: Path,
    *,
    start_worker: bool = True,
    worker_es_url: str | None = None,
    **ingest: Any,
) -> AsyncIterator[Pipeline]:
    """A pipeline named `name`; the worker may reach Elasticsearch through `worker_es_url`."""
    settings = pipeline_settings(base, name, **ingest)
    await ensure_topics(settings)
    app = create_app(settings)
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    worker_settings = settings
    if worker_es_url is not None:
        worker_settings = settings.model_copy(deep=True)
        worker_settings.elasticsearch.url = worker_es_url
    worker = WorkerProcess(worker_settings, tmp_path / f"{name}-worker.log")
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
                pipeline = Pipeline(settings, http, es, worker)
                pipeline.admin_key, _ = await app.state.keys.create(None)
                if start_worker:
                    await worker.start()
                yield pipeline
    finally:
        await worker.stop()
        await _remove(settings, es)
        await es.close()


async def create_webhook(
    http: httpx.AsyncClient,
    admin_key: str,
    domain: str,
    *,
    plugin_id: str = "standard",
    project_id: str = "project-1",
) -> dict[str, Any]:
    """A new webhook of `domain` (made with an admin key): its id, access key and URL."""
    response = await http.post(
        "/monitoring/v1/webhook/create",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={"name": f"{plugin_id} hook", "plugin_info": {"plugin_id": plugin_id},
              "project_id": project_id, "domain_id": domain},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@dataclass
class Served:
    """A pipeline served as `eventpipe api` serves it: the app (its lifespan entered), an
    HTTP client on it, gRPC on a free port, Elasticsearch, and the worker (not started)."""

    settings: Settings
    app: FastAPI
    http: httpx.AsyncClient
    grpc: GrpcServer
    es: AsyncElasticsearch
    worker: WorkerProcess


@asynccontextmanager
async def served_pipeline(
    settings: Settings,
    worker_log: Path,
    prepare: Callable[[AsyncElasticsearch], Awaitable[None]] | None = None,
) -> AsyncIterator[Served]:
    """Topics made, `prepare(es)` (e.g. seeding an index) before the app starts, then the API
    in-process with gRPC beside it; every topic and index of `settings` deleted at the end."""
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    worker = WorkerProcess(settings, worker_log)
    try:
        await ensure_topics(settings)
        if prepare is not None:
            await prepare(es)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            server = await start_grpc_server(app.state, "127.0.0.1", 0)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://eventpipe"
                ) as http:
                    yield Served(settings, app, http, server, es, worker)
            finally:
                await server.stop(0)
    finally:
        await worker.stop()
        await _remove(settings, es)
        await es.close()


async def _remove(settings: Settings, es: AsyncElasticsearch) -> None:
    prefix = settings.indices.events
    daily = await es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    if daily:
        await es.indices.delete(index=",".join(daily))
    await es.options(ignore_status=404).indices.delete_index_template(name=prefix)
    indices = settings.indices
    for index in (indices.alerts, indices.notes, indices.alert_numbers, indices.apikeys,
                  indices.webhooks, indices.event_rules):  # fmt: skip
        await es.indices.delete(index=index, ignore_unavailable=True)
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        group = settings.ingest.worker_group
        ours = {*topic_names(settings), settings.topics.webhooks, settings.topics.event_rules}
        doomed = [t for t in existing if t in ours or t.startswith(group)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def delete_topics(settings: Settings, names: list[str]) -> None:
    """Delete those of `names` that exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        doomed = [name for name in names if name in set(await admin.list_topics())]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
