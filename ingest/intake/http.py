"""The HTTP intake: webhook payloads onto `events.raw`, answered only once Kafka has them.

Routes (SPEC §2): `POST /monitoring/v1/event/create` (CreateEventRequest),
`POST /monitoring/v1/webhook/{webhook_id}/{access_key}/events` (the sender's body
as is, any Content-Type) and `POST /monitoring/v1/webhook/{webhook_id}/events`
with the key in `X-Access-Key`, so it need not sit in a URL. The sender is checked
first (404, 403, 400 disabled); the body must be JSON (400) and at most
`max_body_bytes` (413). The record carries the body as received, the webhook id
and an HMAC signature in headers — never the access key — and is produced with
acks=all. Kafka unreachable, or too slow to acknowledge within `kafka_timeout_seconds`
(its buffer full), is 503 with Retry-After, so the sender retries; a request never hangs.
A 503 after a timeout is ambiguous, as any timeout is: the record may still land, and the
sender's retry then adds a second copy (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.metrics import INTAKE_PRODUCED, INTAKE_REQUESTS, RATE_LIMITED
from ingest.process.normalize import HEADER_SIGNATURE, HEADER_WEBHOOK, signing_input
from ingest.webhooks.envelope import sign_envelope
from ingest.webhooks.registry import WebhookRegistry
from schemas.errors import ApiError, error_body
from schemas.messages import ErrorResponse
from schemas.settings import Settings
from schemas.webhook import WebhookError

log = logging.getLogger("eventpipe.intake")
INTAKE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 403, 404, 413, 429, 503)
}
router = APIRouter(tags=["intake"], responses=INTAKE_ERRORS)


class KafkaUnavailable(Exception):
    """Kafka failed moments ago and has not answered since: the record was not handed over."""


class RawProducer:
    """One idempotent, acks=all producer for `events.raw`, started on first use.

    A send that fails or times out marks Kafka down: until a metadata request succeeds
    again (probed every half second), sends fail at once with KafkaUnavailable without
    handing the record to the producer. Those 503s are unambiguous (the record will
    never land), so a retrying sender duplicates only the records that were in flight
    when Kafka went away, not everything it sent during the outage.
    """

    PROBE_SECONDS = 0.5

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._probe: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        return self._probe is not None

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._settings.kafka.client_options(),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    # Records are keyed by webhook, so a busy webhook fills one partition's
                    # batch: a large batch keeps concurrent requests from queueing behind it.
                    max_batch_size=1024 * 1024,
                    # Shorter than the request's own bound: a record still waiting in the
                    # buffer expires unsent (KafkaTimeoutError) before the sender gets 503.
                    request_timeout_ms=int(self._settings.ingest.kafka_timeout_seconds * 750),
                )
                try:
                    await producer.start()
                except BaseException:  # also cancelled by the request's timeout
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def send(self, webhook_id: str, body: bytes, signature: str) -> None:
        """Return once Kafka has the record; TimeoutError past `kafka_timeout_seconds`,
        KafkaUnavailable at once while Kafka is known to be down."""
        if self._probe is not None:
            raise KafkaUnavailable("Kafka was unreachable and has not answered since")
        try:
            async with asyncio.timeout(self._settings.ingest.kafka_timeout_seconds):
                producer = await self._started()
                await producer.send_and_wait(
                    self._settings.topics.raw,
                    value=body,
                    key=webhook_id.encode(),
                    headers=[
                        (HEADER_WEBHOOK, webhook_id.encode()),
                        (HEADER_SIGNATURE, signature.encode()),
                    ],
                )
        except (KafkaError, OSError, TimeoutError) as error:
            # Only Kafka being away trips it, not a refusal of this one record.
            away = isinstance(error, TimeoutError | OSError | KafkaTimeoutError) or error.retriable
            if away and self._probe is None:
                self._probe = asyncio.create_task(self._probe_until_up(), name="kafka probe")
            raise

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(self.PROBE_SECONDS)
            if await self.reachable():
                log.info("kafka reachable again: the intake hands records over again")
                self._probe = None
                return

    async def reachable(self) -> bool:
        """True when a broker answers a metadata request within a few seconds."""
        return await self.metadata() is not None

    async def metadata(self) -> Any | None:
        """The cluster's metadata (aiokafka's ClusterMetadata: brokers, partitions with
        their leaders and in-sync replicas), or None when no broker answers within 3 s."""
        try:
            async with asyncio.timeout(3):
                producer = await self._started()
                metadata = await producer.client.fetch_all_metadata()
        except Exception:
            return None
        return metadata if metadata.brokers() else None

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def read_body(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes without reading it all."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise _refused(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _refused(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def parse_json(body: bytes, max_depth: int) -> Any:
    """The body as JSON: UTF-8 only (no other encoding guessed), nested at most `max_depth`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refused(
            400, "ERROR_INVALID_ARGUMENT", f"the body is not UTF-8 (byte {error.start})"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise _refused(400, "ERROR_INVALID_ARGUMENT", f"the body is not JSON: {error}") from None
    except RecursionError:
        value = None
        depth = max_depth + 1
    else:
        depth = json_depth(value, max_depth) if _may_nest(text, max_depth) else 0
    if depth > max_depth:
        raise _refused(
            400, "ERROR_INVALID_ARGUMENT", f"the body is nested deeper than {max_depth} levels"
        )
    return value


def _may_nest(text: str, max_depth: int) -> bool:
    """False when the body has too few brackets to nest past `max_depth` (the usual case)."""
    return text.count("[") + text.count("{") > max_depth


def json_depth(value: Any, limit: int) -> int:
    """How deep objects and arrays nest in `value`, counted up to `limit` + 1 (iteratively)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _refused(status: int, code: str, message: str, retry_after: float | None = None) -> ApiError:
    INTAKE_REQUESTS.labels(str(status)).inc()
    return ApiError(status, code, message, retry_after)


async def admit(state: Any, webhook_id: str, access_key: str) -> None:
    """Check the sender (SPEC §4.1) and its webhook's rate; raises the refusal."""
    registry: WebhookRegistry = state.registry
    retry_after = state.settings.api.retry_after_seconds
    try:
        if registry.ready:
            await registry.authenticate(webhook_id, access_key)
        else:  # start-up: the webhooks topic has not been read whole yet; wait, within bounds
            async with asyncio.timeout(state.settings.ingest.kafka_timeout_seconds):
                await registry.authenticate(webhook_id, access_key)
    except WebhookError as refused:
        retry = retry_after if refused.status == 503 else None
        raise _refused(refused.status, refused.code, refused.message, retry) from None
    except TimeoutError:
        raise _refused(
            503, "ERROR_UNAVAILABLE", "webhooks not loaded from Kafka yet; retry later", retry_after
        ) from None
    wait = state.webhook_limiter.wait(webhook_id)
    if wait > 0:
        RATE_LIMITED.labels("webhook").inc()
        raise _refused(
            429, "ERROR_TOO_MANY_REQUESTS",
            f"webhook {webhook_id!r} is over its rate of "
            f"{state.webhook_limiter.rate:g} requests/s; retry later", wait,
        )  # fmt: skip


async def produce(state: Any, webhook_id: str, body: bytes) -> dict[str, Any]:
    """Put an admitted body on `events.raw`; `{}` once Kafka acknowledged it."""
    signature = sign_envelope(state.signing_secret, signing_input(webhook_id, body))
    try:
        await state.raw_producer.send(webhook_id, body, signature)
    except MessageSizeTooLargeError:
        raise _refused(
            413, "ERROR_REQUEST_TOO_LARGE", "the body is larger than Kafka takes in one record"
        ) from None
    except KafkaUnavailable:
        raise _refused(
            503, "ERROR_UNAVAILABLE", "Kafka is unavailable; retry later",
            state.settings.api.retry_after_seconds,
        ) from None  # fmt: skip
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("kafka unavailable: %r", error)
        raise _refused(
            503, "ERROR_UNAVAILABLE", "Kafka is unavailable; retry later",
            state.settings.api.retry_after_seconds,
        ) from None  # fmt: skip
    INTAKE_REQUESTS.labels("200").inc()
    INTAKE_PRODUCED.inc()
    return {}


async def accept(state: Any, webhook_id: str, access_key: str, body: bytes) -> dict[str, Any]:
    """Check the sender and its rate, then put the body on `events.raw` (gRPC's create)."""
    await admit(state, webhook_id, access_key)
    return await produce(state, webhook_id, body)


async def receive_webhook(
    state: Any, webhook_id: str, access_key: str, chunks: AsyncIterator[bytes], declared: str | None
) -> dict[str, Any]:
    """A monitoring tool's own payload for a webhook: the sender and its rate are checked
    before the body is read, so an unknown or refused sender costs no body; then the size
    cap, the JSON check, and Kafka."""
    await admit(state, webhook_id, access_key)
    body = await read_body(chunks, declared, state.settings.ingest.max_body_bytes)
    parse_json(body, state.settings.ingest.max_json_depth)
    return await produce(state, webhook_id, body)


# The two webhook routes take most of the traffic; `WebhookFastPath` serves them below
# FastAPI's routing. The routes stay declared here for the OpenAPI description.
WEBHOOK_URL = re.compile(r"^/monitoring/v1/webhook/([^/]+)/([^/]+)/events$")
WEBHOOK_URL_KEYED = re.compile(r"^/monitoring/v1/webhook/([^/]+)/events$")


@router.post("/monitoring/v1/webhook/{webhook_id}/{access_key}/events")
async def webhook_events(webhook_id: str, access_key: str, request: Request) -> dict[str, Any]:
    """What monitoring tools call: their own payload, posted to the webhook URL."""
    declared = request.headers.get("content-length")
    return await receive_webhook(request.app.state, webhook_id, access_key, request.stream(),
                                 declared)  # fmt: skip


@router.post("/monitoring/v1/webhook/{webhook_id}/events")
async def webhook_events_keyed(
    webhook_id: str,
    request: Request,
    x_access_key: Annotated[str, Header(description="the webhook's access key")] = "",
) -> dict[str, Any]:
    """The same, with the key in the `X-Access-Key` header instead of the URL."""
    declared = request.headers.get("content-length")
    return await receive_webhook(request.app.state, webhook_id, x_access_key, request.stream(),
                                 declared)  # fmt: skip


@router.post("/monitoring/v1/event/create")
async def create_event(request: Request) -> dict[str, Any]:
    """CreateEventRequest `{webhook_id, access_key, data}` (SPEC §2)."""
    state = request.app.state
    body = await read_body(request.stream(), request.headers.get("content-length"),
                           state.settings.ingest.max_body_bytes)  # fmt: skip
    message = parse_json(body, state.settings.ingest.max_json_depth + 1)
    if not isinstance(message, dict) or not {"webhook_id", "access_key", "data"} <= message.keys():
        raise _refused(
            400, "ERROR_INVALID_ARGUMENT", "the body must be {webhook_id, access_key, data}"
        )
    webhook_id, access_key = str(message["webhook_id"]), str(message["access_key"])
    await admit(state, webhook_id, access_key)
    data = json.dumps(message["data"], ensure_ascii=False, separators=(",", ":")).encode()
    return await produce(state, webhook_id, data)


class WebhookFastPath:
    """ASGI middleware answering the webhook routes without FastAPI's routing and
    dependency machinery, which cost more than half of the intake's CPU per request.
    The handling itself is `receive_webhook`, the same as the routes above."""

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
                scope["app"].state, webhook_id, access_key, chunks(),
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
