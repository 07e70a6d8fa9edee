"""The analysis console: static files served at `/console`, a client of the public API only.

Nothing is built or fetched at run time: the HTML, CSS and JavaScript modules under
`static/` are served as they are. A strict Content-Security-Policy keeps the page to its
own origin (no CDN, no inline script), and the API key never leaves sessionStorage
except as the `Authorization` header of API calls.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from query_api.console.routes import router

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]  # fmt: skip


class _ConsoleFiles(StaticFiles):
    """StaticFiles with the console's security headers on every answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount_console(app: FastAPI) -> None:
    """Serve the console at `/console/` (and send `/console` there), with its API routes."""
    app.include_router(router)  # before the mount, which would take every /console path

    @app.get("/console", include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    app.mount("/console", _ConsoleFiles(directory=STATIC, html=True), name="console")
