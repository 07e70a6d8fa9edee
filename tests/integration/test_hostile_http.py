"""Hostile HTTP against a real uvicorn on a free port: the limits hold at the socket.

The service runs as `eventpipe api` runs it (uvicorn, `LimitedHttpProtocol`, the app's
lifespan against the real engines), with small limits so each case is quick: a 64 KiB
body cap, a 1 s deadline for the request head and a 2 s one for the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn

from query_api.rest.app import create_app
from query_api.rest.http_limits import limited_protocol
from schemas.settings import Settings
from schemas.webhook import PluginInfo, WebhookCreate
from tests.integration.pipeline import delete_topics, pipeline_settings

CAP = 64 * 1024


@dataclass
class Server:
    port: int
    webhook_path: str  # /monitoring/v1/webhook/<id>/<key>/events
    api_key: str

    async def exchange(self, raw: bytes, wait: float = 5.0) -> tuple[int, bytes, float]:
        """Send `raw`, read until the server closes or answers: (status, body, seconds)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        started = time.monotonic()
        try:
            writer.write(raw)
            await writer.drain()
            return (*await read_response(reader, wait), time.monotonic() - started)
        finally:
            writer.transport.abort()


async def read_response(reader: asyncio.StreamReader, wait: float) -> tuple[int, bytes]:
    """One HTTP response: (status, body); status 0 when the connection closed without one."""
    async with asyncio.timeout(wait):
        head = await reader.readuntil(b"\r\n\r\n") if True else b""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")),
        0,
    )
    async with asyncio.timeout(wait):
        body = await reader.readexactly(length)
    return status, body


def request(path: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: eventpipe", "Content-Type: application/json",
             f"Content-Length: {len(body) if length is None else length}", *headers]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
async def server(settings: Settings) -> AsyncIterator[Server]:
    import uuid

    name = f"test-hostile-{uuid.uuid4().hex[:12]}"
    ours = pipeline_settings(settings, name, max_body_bytes=CAP)
    ours.api.header_timeout_seconds = 1.0
    ours.api.body_timeout_seconds = 2.0
    app = create_app(ours)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="on",
        http=limited_protocol(ours.api), timeout_keep_alive=ours.api.keep_alive_seconds,
    )  # fmt: skip
    userver = uvicorn.Server(config)
    task = asyncio.create_task(userver.serve())
    try:
        while not userver.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        port = userver.servers[0].sockets[0].getsockname()[1]
        webhook, key = await app.state.webhooks.create(
            WebhookCreate(name="hostile", plugin_info=PluginInfo(plugin_id="standard"),
                          project_id="p", domain_id="d")
        )  # fmt: skip
        api_key, _ = await app.state.keys.create("d")
        yield Server(port, f"/monitoring/v1/webhook/{webhook.webhook_id}/{key}/events", api_key)
    finally:
        userver.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        async with contextlib.AsyncExitStack():
            from elasticsearch import AsyncElasticsearch

            es = AsyncElasticsearch(**ours.elasticsearch.client_options())
            for index in (ours.indices.apikeys, ours.indices.webhooks):
                await es.indices.delete(index=index, ignore_unavailable=True)
            await es.options(ignore_status=404).indices.delete_index_template(
                name=ours.indices.events
            )
            await es.close()
        await delete_topics(ours, [ours.topics.raw, ours.topics.webhooks])


def error_code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


async def test_a_good_request_is_accepted(server: Server) -> None:
    status, body, _ = await server.exchange(request(server.webhook_path, b'{"title": "ok"}'))
    assert (status, body) == (200, b"{}")


@pytest.mark.parametrize("route", ["webhook", "/monitoring/v1/event/list"])
async def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    server: Server, route: str
) -> None:
    path = server.webhook_path if route == "webhook" else route
    auth = f"Authorization: Bearer {server.api_key}"
    status, body, seconds = await server.exchange(request(path, b"", auth, length=10 * CAP))
    assert status == 413 and error_code(body) == "ERROR_REQUEST_TOO_LARGE"
    assert seconds < 1.0  # answered without waiting for a body that was never sent


@pytest.mark.parametrize("route", ["webhook", "/monitoring/v1/event/list"])
async def test_a_chunked_body_over_the_cap_is_refused_while_it_streams(
    server: Server, route: str
) -> None:
    path = server.webhook_path if route == "webhook" else route
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (f"POST {path} HTTP/1.1\r\nHost: e\r\nAuthorization: Bearer {server.api_key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    writer.write(head.encode())
    chunk = b"[" + b" " * 8190 + b"\n"
    sent = 0
    answer: asyncio.Task[tuple[int, bytes]] = asyncio.create_task(read_response(reader, 10))
    try:
        while not answer.done() and sent < 100 * CAP:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(0.001)
        status, body = await answer
    finally:
        writer.transport.abort()
    assert status == 413 and error_code(body) == "ERROR_REQUEST_TOO_LARGE"
    assert sent < 4 * CAP, f"{sent} bytes were taken before the refusal"


async def test_a_content_length_that_lies_short_never_gets_the_rest_through(
    server: Server,
) -> None:
    """The server reads the declared 20 bytes (not JSON: 400) and the rest as a next request
    that is no HTTP (uvicorn's own 400, and the connection is closed), whichever comes first."""
    body = b'{"title": "' + b"x" * (4 * CAP) + b'"}'
    status, answer, _ = await server.exchange(request(server.webhook_path, body, length=20))
    assert status == 400, answer


async def test_a_content_length_that_lies_long_times_out(server: Server) -> None:
    raw = request(server.webhook_path, b'{"title": "t"}', length=1000)
    status, body, seconds = await server.exchange(raw, wait=10)
    assert status == 408 and error_code(body) == "ERROR_REQUEST_TIMEOUT"
    assert 1.5 < seconds < 5


async def test_headers_too_large_or_too_many_are_refused(server: Server) -> None:
    big = request(server.webhook_path, b"{}", "X-Big: " + "a" * 40_000)
    status, body, _ = await server.exchange(big)
    assert status == 431 and error_code(body) == "ERROR_REQUEST_HEADER_TOO_LARGE"
    many = request(server.webhook_path, b"{}", *(f"X-H{i}: v" for i in range(150)))
    status, body, _ = await server.exchange(many)
    assert status == 431


async def test_a_slow_loris_is_cut_off(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    writer.write(f"POST {server.webhook_path} HTTP/1.1\r\nHost: e\r\n".encode())
    closed_after = None
    try:
        for _ in range(40):  # one header byte every 0.2 s: never a whole head
            writer.write(b"X")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(0.2)
            if reader.at_eof() or writer.transport.is_closing():
                break
            with contextlib.suppress(TimeoutError):
                data = await asyncio.wait_for(reader.read(1024), 0.01)
                if data:
                    assert data.startswith(b"HTTP/1.1 408"), data
                    closed_after = time.monotonic() - started
                    break
    finally:
        writer.transport.abort()
    assert closed_after is not None and closed_after < 3, closed_after


async def test_a_silent_connection_is_closed(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        async with asyncio.timeout(5):
            data = await reader.read()
    finally:
        writer.transport.abort()
    assert data.startswith(b"HTTP/1.1 408") or data == b""


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 100 + b"]" * 100, "nested deeper"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b'{"title": "caf\xe9"}', "not UTF-8"),
        ('{"title": "t"}'.encode("utf-16"), "not UTF-8"),
        (b"\xef\xbb\xbf{}", "not JSON"),
        (b"{'single': 'quotes'}", "not JSON"),
    ],
)
async def test_bodies_that_are_not_utf8_json_or_too_deep_get_400(
    server: Server, body: bytes, why: str
) -> None:
    status, answer, _ = await server.exchange(request(server.webhook_path, body))
    assert status == 400, answer
    assert error_code(answer) == "ERROR_INVALID_ARGUMENT" and why in json.loads(answer)[
        "error"]["message"]  # fmt: skip


async def test_depth_at_the_limit_is_accepted(server: Server) -> None:
    body = b'{"a":' * 63 + b"1" + b"}" * 63
    status, answer, _ = await server.exchange(request(server.webhook_path, body))
    assert status == 200, answer


async def test_a_deeply_nested_query_is_a_400_not_a_500(server: Server) -> None:
    deep = '{"v":' * 3000 + "1" + "}" * 3000
    raw = ('{"query": {"filter": [{"k": "a", "o": "eq", "v": ' + deep + "}]}}").encode()
    auth = f"Authorization: Bearer {server.api_key}"
    status, answer, _ = await server.exchange(request("/monitoring/v1/event/list", raw, auth))
    assert 400 <= status < 500, answer
