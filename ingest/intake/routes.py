"""The intake's HTTP face (SPEC §2): `POST /monitoring/v1/event/create`
(CreateEventRequest), `POST /monitoring/v1/webhook/{webhook_id}/{access_key}/events` (the
sender's body as is, any Content-Type) and `POST /monitoring/v1/webhook/{webhook_id}/events`
with the key in `X-Access-Key`, so it need not sit in a URL.

The two webhook URLs take most of the traffic: `WebhookFastPath` answers them below the web
framework's routing and dependency machinery, which cost more than half of the intake's CPU
per request. The handling itself is `admission.receive_webhook`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.intake.admission import Intake, admit, produce, receive_webhook
from ingest.intake.limits import parse_json, read_body, refused
from ingest.metrics import INTAKE_REQUESTS
from schemas.errors import ApiError, error_body
from schemas.messages import ErrorResponse

log = logging.getLogger("eventpipe.intake")
INTAKE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 403, 404, 413, 429, 503)
}
router = APIRouter(tags=["intake"], responses=INTAKE_ERRORS)
WEBHOOK_URL = re.compile(r"^/monitoring/v1/webhook/([^/]+)/([^/]+)/events$")
WEBHOOK_URL_KEYED = re.compile(r"^/monitoring/v1/webhook/([^/]+)/events$")


def intake_of(app: Starlette) -> Intake:
    """The intake the serving process set up (`app.state.intake`, at start-up)."""
    intake = getattr(app.state, "intake", None)
    if not isinstance(intake, Intake):
        raise ApiError(503, "ERROR_UNAVAILABLE", "the intake is starting; retry later", 1.0)
    return intake


@router.post("/monitoring/v1/event/create")
async def create_event(request: Request) -> dict[str, Any]:
    """CreateEventRequest `{webhook_id, access_key, data}` (SPEC §2)."""
    intake = intake_of(request.app)
    body = await read_body(request.stream(), request.headers.get("content-length"),
                           intake.settings.ingest.max_body_bytes)  # fmt: skip
    message = parse_json(body, intake.settings.ingest.max_json_depth + 1)
    if not isinstance(message, dict) or not {"webhook_id", "access_key", "data"} <= message.keys():
        raise refused(
            400, "ERROR_INVALID_ARGUMENT", "the body must be {webhook_id, access_key, data}"
        )
    webhook_id, access_key = str(message["webhook_id"]), str(message["access_key"])
    await admit(intake, webhook_id, access_key)
    data = json.dumps(message["data"], ensure_ascii=False, separators=(",", ":")).encode()
    return await produce(intake, webhook_id, data)


class WebhookFastPath:
    """ASGI middleware answering the webhook routes without FastAPI's routing and
    dependency machinery, which cost more than half of the intake's CPU per request.
    Everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if match := WEBHOOK_URL.match(path):
                webhook_id, access_key = match.groups()
            elif match := WEBHOOK_URL_KEYED.match(path):
                webhook_id, access_key = match.group(1), _header(scope, b"x-access-key")
            else:
                return await self.app(scope, receive, send)
            await self._serve(scope, receive, send, webhook_id, access_key)
            return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, webhook_id: str, access_key: str
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            answer = await receive_webhook(
                intake_of(scope["app"]), webhook_id, access_key, chunks(),
                _header(scope, b"content-length") or None,
            )  # fmt: skip
            response = JSONResponse(answer)
        except ApiError as error:
            response = JSONResponse(
                error_body(error.code, error.message), error.status, error.headers()
            )
        except HTTPException as error:  # a limit of the body (RequestLimits): 408, 413
            INTAKE_REQUESTS.labels(str(error.status_code)).inc()
            code = (
                "ERROR_REQUEST_TIMEOUT" if error.status_code == 408 else "ERROR_REQUEST_TOO_LARGE"
            )
            response = JSONResponse(error_body(code, str(error.detail)), error.status_code)
        except ClientDisconnect:
            return
        except Exception:
            log.exception("intake failed")
            response = JSONResponse(error_body("ERROR_INTERNAL", "internal error"), 500)
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""
