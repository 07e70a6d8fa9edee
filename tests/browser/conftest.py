"""A real console for browser tests: engines, a worker, uvicorn on a free port, Chromium.

Chromium is Debian's `chromium` package, driven by Playwright for Python through
`executable_path` (Playwright's own browser download is not used). When it is missing
and the tests run as root, it is installed with apt-get, as the engines are fetched;
otherwise the browser tests are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from elasticsearch import AsyncElasticsearch

from query_api.rest.app import create_app
from schemas.settings import Settings
from tests.integration.pipeline import WorkerProcess, _remove, pipeline_settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "console"
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.path):
            item.add_marker(pytest.mark.integration)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path(pytestconfig: pytest.Config) -> str:
    """Debian's Chromium, installed with apt-get when missing and we are root."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("browser tests need Debian's `chromium` (apt-get install chromium, as root)")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\ninstalling chromium with apt-get (once)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env)
    found = find_chromium()
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


@dataclass
class Console:
    """One running console: its URL, keys, an HTTP client for setup, and where shots go."""

    url: str
    settings: Settings
    admin_key: str
    domain_key: str
    http: httpx.AsyncClient
    shots: Path

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    async def create_webhook(
        self, plugin_id: str, project: str, domain: str = "domain-1"
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/monitoring/v1/webhook/create", headers=self.auth(),
            json={"name": f"{plugin_id} {project}", "plugin_info": {"plugin_id": plugin_id},
                  "project_id": project, "domain_id": domain},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    async def count(self, body: dict[str, Any]) -> int:
        response = await self.http.post(
            "/monitoring/v1/event/list",
            headers=self.auth(),
            json={**body, "query": {**body.get("query", {}), "count_only": True}},
        )
        return int(response.json().get("total_count", 0)) if response.status_code == 200 else 0

    async def wait_for_events(
        self, body: dict[str, Any], at_least: int, seconds: float = 60
    ) -> int:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            if (found := await self.count(body)) >= at_least:
                return found
            await asyncio.sleep(0.3)
        raise AssertionError(f"fewer than {at_least} events indexed in {seconds} s")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def shots_dir() -> Iterator[Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SCREENSHOTS


@pytest.fixture(scope="session")
async def console(settings: Settings, shots_dir: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Console]:  # fmt: skip
    """The whole service behind a real uvicorn on 127.0.0.1:<free port>, with a worker."""
    from ingest.kafka.topics import ensure_topics

    name = f"test-console-{os.urandom(4).hex()}"
    sock = free_socket()
    port = sock.getsockname()[1]
    local = pipeline_settings(settings, name)
    local.api.public_url = f"http://127.0.0.1:{port}"
    await ensure_topics(local)
    app = create_app(local)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    worker = WorkerProcess(local, tmp_path_factory.mktemp("console") / "worker.log")
    es = AsyncElasticsearch(**local.elasticsearch.client_options())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn stopped while starting"
            await asyncio.sleep(0.05)
        admin_key, _ = await app.state.keys.create(None)
        domain_key, _ = await app.state.keys.create("domain-1")
        await worker.start()
        async with httpx.AsyncClient(base_url=local.api.public_url, timeout=30) as http:
            yield Console(local.api.public_url, local, admin_key, domain_key, http, shots_dir)
    finally:
        await worker.stop()
        server.should_exit = True
        await serving
        await _remove(local, es)
        await es.close()


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Shown with a failing test's output: what the page itself complained about.
    page.on(
        "console",
        lambda message: (
            message.type in ("error", "warning")
            and print("browser console:", message.type, message.text)
        ),
    )
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"
