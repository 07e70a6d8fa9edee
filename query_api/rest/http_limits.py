"""Limits on what a client may send, at the two levels where it can be enforced.

- `LimitedHttpProtocol` (the socket, under uvicorn): the request line and headers must
  arrive within `header_timeout_seconds` (slow-loris), be at most `max_header_bytes`
  in all and `max_header_count` lines; past any, the connection is answered 408 or 431
  and closed before the application sees anything. The body must then arrive within
  `body_timeout_seconds` (408, and the connection closed). A sweep every half second
  checks both deadlines on every connection, so a request costs no timer of its own.
- `RequestLimits` (ASGI, every route): a declared Content-Length over
  `ingest.max_body_bytes` is refused (413) before a byte of the body is read; a body
  that grows past it while streaming (chunked, or a Content-Length that lies) is
  refused as soon as it does.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schemas.errors import error_body
from schemas.settings import ApiSettings


class RequestLimits:
    """ASGI middleware: the body size cap, for every route."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _answer(send, 413, "ERROR_REQUEST_TOO_LARGE",
                          f"the body exceeds {self.max_body_bytes} bytes")  # fmt: skip
            return None
        size = 0

        async def limited_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body_bytes:
                    raise HTTPException(413, f"the body exceeds {self.max_body_bytes} bytes")
            return message

        return await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


STATUS_TEXT = {408: b"408 Request Timeout", 431: b"431 Request Header Fields Too Large"}


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and size limits on the request head.

    Configure the class with `limited_protocol(settings.api)` before handing it to
    uvicorn (`uvicorn.run(app, http=...)`).
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Loop times: when the current request's head began and was complete (None: no
        # request in progress / head not complete). A sweep reads them, so a request pays
        # for two assignments instead of a timer of its own.
        self._head_began_at: float | None = None
        self._head_done_at: float | None = None
        self._head_bytes = 0
        self._head_count = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_began_at = self.loop.time()  # a silent connection is a slow head too
        _watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _watched.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_began_at is None:
            self._head_began_at = self.loop.time()  # the next request on a kept-alive connection
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        self._head_count = 0
        self._head_done_at = None
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self.max_header_bytes:
            return self._refuse(431, "the request line and headers are too large")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        self._head_count += 1
        if self._head_bytes > self.max_header_bytes:
            return self._refuse(431, "the request line and headers are too large")
        if self._head_count > self.max_header_count:
            return self._refuse(431, f"more than {self.max_header_count} header lines")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._head_done_at = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            self._head_began_at = self._head_done_at = None
            super().on_message_complete()

    def check_deadlines(self, now: float) -> None:
        """Called by the sweep: refuse a head or a body that is past its deadline."""
        if self._refused or self._head_began_at is None or self.transport.is_closing():
            return
        if self._head_done_at is None:
            if now - self._head_began_at > self.header_timeout:
                self._refuse(408, f"the request head did not arrive within "
                                  f"{self.header_timeout:g} s")  # fmt: skip
        elif now - self._head_done_at > self.body_timeout:
            if self.cycle is not None and not self.cycle.response_complete:
                self._refuse(408, f"the body did not arrive within {self.body_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer on the raw transport and close: the request never reaches the app."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        code = "ERROR_REQUEST_TIMEOUT" if status == 408 else "ERROR_REQUEST_HEADER_TOO_LARGE"
        body = json.dumps(error_body(code, message)).encode()
        self.transport.write(
            b"HTTP/1.1 " + STATUS_TEXT[status] + b"\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


SWEEP_SECONDS = 0.5
_watched: weakref.WeakSet[LimitedHttpProtocol] = weakref.WeakSet()
_sweeps: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def _watch(protocol: LimitedHttpProtocol) -> None:
    """Add a connection to the sweep of its loop (started with the loop's first one)."""
    _watched.add(protocol)
    loop = protocol.loop
    if loop not in _sweeps or _sweeps[loop].done():
        _sweeps[loop] = loop.create_task(_sweep(loop), name="http deadlines")


async def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    """Every SWEEP_SECONDS, refuse what is past its deadline: deadlines hold to within that."""
    try:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = loop.time()
            mine = [protocol for protocol in list(_watched) if protocol.loop is loop]
            if not mine:
                return  # the next connection starts it again
            for protocol in mine:
                protocol.check_deadlines(now)
    finally:
        _sweeps.pop(loop, None)


def limited_protocol(settings: ApiSettings) -> type[LimitedHttpProtocol]:
    """A `LimitedHttpProtocol` subclass carrying the configured limits."""
    return type(
        "ConfiguredHttpProtocol",
        (LimitedHttpProtocol,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "max_header_bytes": settings.max_header_bytes,
            "max_header_count": settings.max_header_count,
        },
    )
