"""A spacectl walk-through of alerts: list, acknowledge, note, resolve, against a real pipeline.

    python -m bench.alerts_walkthrough [--spacectl PATH]

Starts a pipeline of its own (unique topics and indices, a real `eventpipe worker`
process, the API in-process with gRPC on a free port), sends three events through a
webhook, then runs Cloudforet's own CLI, `spacectl` (1.12; install it in a separate
virtualenv: `pip install spacectl`), with an eventpipe API key as its token, and prints
each command with its output. Everything it made is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shlex
import tempfile
import time
from pathlib import Path

import httpx

from ingest.kafka.topics import ensure_topics
from query_api.grpc.server import start_grpc_server
from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.pipeline import WorkerProcess, _remove, pipeline_settings

DOMAIN = "domain-walk"


async def run(spacectl: str, home: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        spacectl, *args, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    text = out.decode()
    print(f"$ spacectl {shlex.join(args)}\n{text}")
    return text


async def main(args: argparse.Namespace) -> None:
    from elasticsearch import AsyncElasticsearch

    settings = pipeline_settings(Settings(), f"walk-{secrets.token_hex(4)}")
    es = AsyncElasticsearch(**settings.elasticsearch.client_options())
    home = Path(tempfile.mkdtemp(prefix="spacectl-home-"))
    worker = WorkerProcess(settings, home / "worker.log")
    try:
        await ensure_topics(settings)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            server = await start_grpc_server(app.state, "127.0.0.1", 0)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
                    admin, _ = await app.state.keys.create(None)
                    key, _ = await app.state.keys.create(DOMAIN)
                    hook = (await http.post(
                        "/monitoring/v1/webhook/create",
                        headers={"Authorization": f"Bearer {admin}"},
                        json={"name": "walk", "plugin_info": {"plugin_id": "standard"},
                              "project_id": "project-web", "domain_id": DOMAIN},
                    )).json()  # fmt: skip
                    await worker.start()
                    url = f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"
                    for event in (
                        {"event_key": "disk-web-1", "title": "Disk 95% full on web-1",
                         "severity": "CRITICAL", "resource": {"name": "web-1"}},
                        {"event_key": "cpu-db-2", "title": "CPU 90% on db-2",
                         "severity": "WARNING"},
                        {"event_key": "disk-web-1", "title": "Disk 96% full on web-1",
                         "severity": "CRITICAL"},
                    ):  # fmt: skip
                        sent = await http.post(url, json=event)
                        assert sent.status_code == 200, sent.text
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        listed = await http.post(
                            "/monitoring/v1/alert/list", json={},
                            headers={"Authorization": f"Bearer {key}"},
                        )  # fmt: skip
                        if listed.json().get("total_count") == 2:
                            break
                        await asyncio.sleep(0.5)
                    await walk(args.spacectl, home, key, server.address)
            finally:
                await server.stop(0)
    finally:
        await worker.stop()
        await _remove(settings, es)
        await es.close()


async def walk(spacectl: str, home: Path, key: str, address: str) -> None:
    await run(spacectl, home, "config", "init", "-e", "eventpipe")
    await run(spacectl, home, "config", "set", "api_key", key)
    await run(spacectl, home, "config", "endpoint", "add", "monitoring", f"grpc://{address}")
    columns = "alert_number,alert_id,title,state,urgency,assignee,acknowledged_at,resolved_at"
    by_number = '{"query": {"sort": {"key": "alert_number"}}}'
    listed = await run(spacectl, home, "list", "monitoring.Alert", "-c", columns,
                       "-j", by_number, "-o", "csv")  # fmt: skip
    found = [line.split(",")[1] for line in listed.splitlines() if "Disk" in line]
    if not found:
        raise SystemExit("spacectl listed no disk alert")
    disk = found[0]
    await run(spacectl, home, "exec", "update", "monitoring.Alert",
              "-p", f"alert_id={disk}", "-p", "state=ACKNOWLEDGED", "-p", "assignee=ann",
              "-o", "yaml")  # fmt: skip
    note = "note=Cleaning /var/log on web-1"
    await run(spacectl, home, "exec", "create", "monitoring.Note",
              "-p", f"alert_id={disk}", "-p", note, "-o", "yaml")  # fmt: skip
    await run(spacectl, home, "list", "monitoring.Note", "-p", f"alert_id={disk}",
              "-c", "note_id,alert_id,note,created_by,created_at")  # fmt: skip
    await run(spacectl, home, "exec", "update", "monitoring.Alert",
              "-p", f"alert_id={disk}", "-p", "state=RESOLVED",
              "-p", "status_message=logs rotated", "-o", "yaml")  # fmt: skip
    await asyncio.sleep(1.5)  # list and stat search: a change shows after the next refresh
    await run(spacectl, home, "list", "monitoring.Alert", "-c", columns, "-j", by_number)
    by_state = ('{"query": {"aggregate": [{"group": {"keys": [{"key": "state", "name": "state"}],'
                ' "fields": [{"operator": "count", "name": "alerts"}]}}]}}')  # fmt: skip
    await run(spacectl, home, "stat", "monitoring.Alert", "-j", by_state)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacectl", default="spacectl")
    asyncio.run(main(parser.parse_args()))
