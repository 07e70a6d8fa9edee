"""A spacectl walk-through of event rules: created, ordered and listed with Cloudforet's own
CLI, then applied by a real worker to events sent through a webhook.

    python -m bench.event_rules_walkthrough [--spacectl PATH]

A pipeline of its own (unique topics and indices, a real `eventpipe worker`, the API
in-process with gRPC on a free port); `spacectl` 1.12 (in a separate virtualenv: `pip
install spacectl`) with an eventpipe API key as its token. Prints each command with its
output; everything it made is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path

import httpx

from bench.alerts_walkthrough import run
from ingest.kafka.topics import ensure_topics
from query_api.grpc.server import start_grpc_server
from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.pipeline import WorkerProcess, _remove, pipeline_settings

DOMAIN = "domain-rules-walk"
DISKS = {"conditions_policy": "ALL",
         "conditions": [{"key": "title", "value": "disk", "operator": "contain"},
                        {"key": "severity", "value": "CRITICAL", "operator": "eq"}],
         "actions": {"change_project": "project-storage", "change_assignee": "alice",
                     "add_additional_info": {"team": "storage"}}}  # fmt: skip
QUIET = {"conditions_policy": "ANY",
         "conditions": [{"key": "additional_info.env", "value": "staging", "operator": "eq"}],
         "actions": {"change_urgency": "LOW"}, "options": {"stop_processing": True}}  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    from elasticsearch import AsyncElasticsearch

    settings = pipeline_settings(Settings(), f"rwalk-{secrets.token_hex(4)}")
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
                    sp = args.spacectl
                    await run(sp, home, "config", "init", "-e", "eventpipe")
                    await run(sp, home, "config", "set", "api_key", key)
                    await run(sp, home, "config", "endpoint", "add", "monitoring",
                              f"grpc://{server.address}")  # fmt: skip
                    await run(sp, home, "exec", "create", "monitoring.EventRule",
                              "-p", "name=critical disks to storage", "-j", json.dumps(DISKS),
                              "-o", "yaml")  # fmt: skip
                    quiet = await run(sp, home, "exec", "create", "monitoring.EventRule",
                                      "-p", "name=quiet staging", "-j", json.dumps(QUIET),
                                      "-o", "json")  # fmt: skip
                    rule_id = json.loads(quiet[quiet.index("{") :])["event_rule_id"]
                    await run(sp, home, "exec", "change_order", "monitoring.EventRule",
                              "-p", f"event_rule_id={rule_id}", "-j", '{"order": 1}',
                              "-o", "yaml")  # fmt: skip
                    await run(
                        sp,
                        home,
                        "list",
                        "monitoring.EventRule",
                        "-c",
                        "event_rule_id,name,order,scope,conditions_policy",
                    )
                    url = f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"
                    for event in (
                        {"event_key": "disk-web-1", "title": "Disk 95% full on web-1",
                         "severity": "CRITICAL"},
                        {"event_key": "disk-stg-1", "title": "Disk 91% full on stg-1",
                         "severity": "CRITICAL", "additional_info": {"env": "staging"}},
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
                    await run(sp, home, "list", "monitoring.Event",
                              "-c", "event_key,title,project_id,additional_info")  # fmt: skip
                    await run(sp, home, "list", "monitoring.Alert",
                              "-c", "title,project_id,urgency,assignee,state")  # fmt: skip
            finally:
                await server.stop(0)
    finally:
        await worker.stop()
        await _remove(settings, es)
        await es.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacectl", default="spacectl")
    asyncio.run(main(parser.parse_args()))
