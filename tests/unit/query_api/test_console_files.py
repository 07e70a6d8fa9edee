"""The console's files as the API serves them: no lifespan, no engines needed."""

from __future__ import annotations

import re

import httpx
import pytest

from query_api.console import STATIC
from query_api.rest.app import create_app
from schemas.settings import Settings


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://eventpipe") as http:
        yield http


async def test_console_is_served_with_a_strict_policy(client: httpx.AsyncClient) -> None:
    redirect = await client.get("/console")
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/console/")
    page = await client.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert '<script type="module" src="js/main.js">' in page.text


async def test_every_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    pending, seen = ["js/main.js"], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        response = await client.get(f"/console/{path}")
        assert response.status_code == 200, path
        assert "javascript" in response.headers["content-type"]
        pending += [f"js/{name}" for name in re.findall(r'from "\./([\w.]+\.js)"', response.text)]
    on_disk = {f"js/{p.name}" for p in (STATIC / "js").glob("*.js")}
    assert seen == on_disk, "a module is never imported, or imported but missing"


async def test_nothing_is_loaded_from_another_origin() -> None:
    for path in STATIC.rglob("*"):
        if path.is_file():
            assert not re.search(r"(src|href)=\"https?://", path.read_text()), path
            assert 'fetch("http' not in path.read_text(), path


async def test_an_unknown_console_file_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ERROR_NOT_FOUND"
