"""What the spacectl walk-throughs share: a pipeline of their own (unique topics and
indices, a real `eventpipe worker` process, the API in-process with gRPC on a free port),
a domain key and a webhook, and Cloudforet's own CLI, `spacectl` (1.12; install it in a
separate virtualenv: `pip install spacectl`), configured with that key as its token.
Everything made is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shlex
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.settings import Settings
from tests.integration.pipeline import Served, create_webhook, pipeline_settings, served_pipeline

PROJECT = "project-web"
WAIT_SECONDS = 60


@dataclass
class Walk:
    """A served pipeline, the domain's key, its webhook, and spacectl set up against it."""

    served: Served
    key: str
    hook: dict[str, Any]
    spacectl_path: str
    home: Path

    async def spacectl(self, *args: str) -> str:
        """Run spacectl; print the command and its output (stdout and stderr) and return it."""
        process = await asyncio.create_subprocess_exec(
            self.spacectl_path, *args, env={"HOME": str(self.home), "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        text = out.decode()
        print(f"$ spacectl {shlex.join(args)}\n{text}")
        return text

    async def send(self, *events: dict[str, Any]) -> None:
        """Each event through the webhook's URL, as a monitoring tool sends it."""
        hook = self.hook
        url = f"/monitoring/v1/webhook/{hook['webhook_id']}/{hook['access_key']}/events"
        for event in events:
            sent = await self.served.http.post(url, json=event)
            assert sent.status_code == 200, sent.text

    async def wait_for_alerts(self, count: int) -> None:
        """Until the domain has `count` alerts (or WAIT_SECONDS have passed)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            listed = await self.served.http.post(
                "/monitoring/v1/alert/list", json={},
                headers={"Authorization": f"Bearer {self.key}"},
            )  # fmt: skip
            if listed.json().get("total_count") == count:
                return
            await asyncio.sleep(0.5)


@asynccontextmanager
async def walkthrough(name: str, domain: str, spacectl: str) -> AsyncIterator[Walk]:
    """A pipeline named `name`-<random> with a key and a standard webhook of `domain`, its
    worker running, and spacectl configured (endpoint and token) in a home of its own."""
    settings = pipeline_settings(Settings(), f"{name}-{secrets.token_hex(4)}")
    home = Path(tempfile.mkdtemp(prefix="spacectl-home-"))
    async with served_pipeline(settings, home / "worker.log") as served:
        admin, _ = await served.app.state.keys.create(None)
        key, _ = await served.app.state.keys.create(domain)
        hook = await create_webhook(served.http, admin, domain, project_id=PROJECT)
        await served.worker.start()
        walk = Walk(served, key, hook, spacectl, home)
        await walk.spacectl("config", "init", "-e", "eventpipe")
        await walk.spacectl("config", "set", "api_key", key)
        await walk.spacectl("config", "endpoint", "add", "monitoring",
                            f"grpc://{served.grpc.address}")  # fmt: skip
        yield walk


def arguments(doc: str) -> argparse.Namespace:
    """The walk-throughs' command line: `--spacectl PATH`."""
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--spacectl", default="spacectl", help="spacectl's path (default: on PATH)")
    return parser.parse_args()
