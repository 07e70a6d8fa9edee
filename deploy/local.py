"""The local run (`eventpipe up`) and its demo traffic (`eventpipe demo`).

`up` starts the engines, creates the topics, makes sure a demo admin API key and
one demo webhook per built-in source exist (kept in `<cache>/demo.json`, owner
readable only, and reused while they stay valid), then runs the worker as a child
process (restarted if it exits) and the HTTP service in the foreground until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import engines
from deploy.demo_payloads import SOURCES, payload
from schemas.settings import Settings

DEMO_DOMAIN = "demo-domain"
DEMO_PROJECT = "demo-project"


@dataclass(frozen=True)
class DemoAccess:
    api_key: str
    webhooks: dict[str, dict[str, str]]  # plugin_id -> {webhook_id, access_key, webhook_url}


def demo_file(settings: Settings) -> Path:
    return settings.engines.cache_dir / "demo.json"


async def ensure_demo_access(settings: Settings) -> DemoAccess:
    """The saved demo key and webhooks if they still work, else new ones (saved again)."""
    from elasticsearch import AsyncElasticsearch

    from ingest.webhooks.keys import access_key_matches
    from query_api.services.apikeys import ApiKeyStore
    from query_api.services.webhooks import open_store
    from schemas.webhook import PluginInfo, WebhookCreate, public_base_url, webhook_url

    path = demo_file(settings)
    saved: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    try:
        keys = ApiKeyStore(es, settings.indices.apikeys)
        async with open_store(settings, es) as store:
            await keys.ensure_index()
            await store.ensure_index()
            api_key = saved.get("api_key", "")
            caller = await keys.authenticate(api_key) if api_key else None
            if caller is None or not caller.is_admin:
                api_key, _ = await keys.create(None)
            hooks: dict[str, dict[str, str]] = {}
            base = public_base_url(settings)
            for plugin_id in SOURCES:
                known = saved.get("webhooks", {}).get(plugin_id, {})
                found = await store.find(known["webhook_id"]) if known else None
                if found and access_key_matches(known["access_key"], found.access_key_sha256):
                    hooks[plugin_id] = {**known, "webhook_url": webhook_url(
                        base, found.webhook_id, known["access_key"])}  # fmt: skip
                    continue
                webhook, key = await store.create(
                    WebhookCreate(
                        name=f"demo {plugin_id}",
                        plugin_info=PluginInfo(plugin_id=plugin_id),
                        project_id=DEMO_PROJECT,
                        domain_id=DEMO_DOMAIN,
                    )
                )
                url = webhook_url(base, webhook.webhook_id, key)
                hooks[plugin_id] = {
                    "webhook_id": webhook.webhook_id,
                    "access_key": key,
                    "webhook_url": url,
                }
    finally:
        await es.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"api_key": api_key, "webhooks": hooks}, out, indent=2)
    return DemoAccess(api_key=api_key, webhooks=hooks)


def run_local(settings: Settings, serve_api: Any) -> int:
    """Engines, topics, demo access, the worker process and the API until Ctrl-C."""
    from ingest.kafka.topics import ensure_topics

    if settings.kafka.bootstrap_servers == f"127.0.0.1:{settings.engines.kafka_port}":
        engines.up(settings.engines)  # the plain local engines, unless pointed elsewhere
    settings = Settings()  # `up` may have generated the Elasticsearch password just now
    asyncio.run(ensure_topics(settings))
    access = asyncio.run(ensure_demo_access(settings))
    log_path = settings.engines.cache_dir / "logs" / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = Supervised([sys.executable, "-m", "deploy.cli", "worker"], log_path)
    worker.start()
    api = f"http://{settings.api.host}:{settings.api.port}"
    grpc = (
        f"{settings.api.grpc_host}:{settings.api.grpc_port}   (spaceone.api.monitoring.v1.Event,"
        " reflection, health)"
        if settings.api.grpc_port
        else "off (EVENTPIPE_API__GRPC_PORT=0)"
    )
    print(f"""
eventpipe is running.
  console         {api}/console/   (sign in with the admin API key below)
  Event API       {api}   (OpenAPI docs: {api}/docs, metrics: {api}/metrics)
  gRPC Event API  {grpc}
  admin API key   {access.api_key}
  webhook URL     {access.webhooks["prometheus"]["webhook_url"]}
                  (an Alertmanager receiver; `eventpipe demo` sends sample alerts of every source)
  worker          pid {worker.pid}, log {log_path}, metrics http://127.0.0.1:{settings.ingest.worker_metrics_port}/metrics
  Kafka           {settings.kafka.bootstrap_servers}
  Elasticsearch   {settings.elasticsearch.endpoint} ({_credentials(settings)})
  saved in        {demo_file(settings)}

Try:  curl -s -X POST {api}/monitoring/v1/event/list -H 'Authorization: Bearer {access.api_key}' -H 'Content-Type: application/json' -d '{{"query": {{"page": {{"limit": 5}}}}}}'
Ctrl-C stops the API and the worker; `.venv/bin/eventpipe engines down` stops the engines.
""")  # noqa: E501
    try:
        serve_api(settings)
    finally:
        worker.stop()
    return 0


def _credentials(settings: Settings) -> str:
    """How the services authenticate to Elasticsearch, in words (never the secret)."""
    if settings.elasticsearch.api_key is not None:
        return "an API key"
    if settings.elasticsearch.bearer_token is not None:
        return "a bearer token"
    user = settings.elasticsearch.username
    if settings.elasticsearch.url == f"http://127.0.0.1:{settings.engines.elasticsearch_port}":
        return f"user {user}, password in {settings.engines.elastic_password_file}"
    return f"user {user}"


class Supervised:
    """A child process restarted whenever it exits before `stop()`, as a service manager
    would: a worker that exits mid-batch (code 75) reads its batch again after a restart."""

    def __init__(self, command: list[str], log_path: Path, restart_delay: float = 2.0) -> None:
        self.command = command
        self.log_path = log_path
        self.restart_delay = restart_delay
        self.restarts = 0
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        with self._lock, open(self.log_path, "ab") as log:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.wait(self.restart_delay):
                return
            print(
                f"worker exited with code {code}; restarting it (log {self.log_path})",
                file=sys.stderr,
            )
            self.restarts += 1
            self._spawn()

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; no restart after this."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def send_demo(settings: Settings, count: int, concurrency: int = 8) -> dict[str, int]:
    """POST `count` sample alerts (every third round resolves the earlier ones) via the intake."""
    import httpx
    from tqdm import tqdm

    access = await ensure_demo_access(settings)
    plugins = list(SOURCES)
    statuses: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    bar = tqdm(total=count, unit="alert", desc="sending")

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            plugin = plugins[i % len(plugins)]
            round_, resolved = i // len(plugins), (i // len(plugins)) % 3 == 2
            body = payload(plugin, round_ - 2 if resolved else round_, resolved)
            try:
                response = await client.post(access.webhooks[plugin]["webhook_url"], json=body)
                status = str(response.status_code)
            except httpx.HTTPError as error:
                status = type(error).__name__
            statuses[status] = statuses.get(status, 0) + 1
            bar.update()

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
    bar.close()
    return statuses
