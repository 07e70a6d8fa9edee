"""The HTTP intake: webhook payloads onto `events.raw`, answered only once Kafka has them.

Routes (SPEC §2): `POST /monitoring/v1/event/create` (CreateEventRequest),
`POST /monitoring/v1/webhook/{webhook_id}/{access_key}/events` (the sender's body
as is, any Content-Type) and `POST /monitoring/v1/webhook/{webhook_id}/events`
with the key in `X-Access-Key`, so it need not sit in a URL. The sender is checked
first (404, 403, 400 disabled); the body must be JSON (400) and at most
`max_body_bytes` (413). The record carries the body as received, the webhook id
and an HMAC signature in headers — never the access key — and is produced with
acks=all; Kafka unreachable is 503, so the sender retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Header, Request

from ingest.metrics import INTAKE_PRODUCED, INTAKE_REQUESTS
from ingest.normalize import HEADER_SIGNATURE, HEADER_WEBHOOK, signing_input
from ingest.webhooks.envelope import sign_envelope
from ingest.webhooks.registry import WebhookRegistry
from query_api.errors import ApiError
from schemas.settings import Settings
from schemas.webhook import WebhookError

log = logging.getLogger("eventpipe.intake")
router = APIRouter(tags=["intake"])


class RawProducer:
    """One idempotent, acks=all producer for `events.raw`, started on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    # Records are keyed by webhook, so a busy webhook fills one partition's
                    # batch: a large batch keeps concurrent requests from queueing behind it.
                    max_batch_size=1024 * 1024,
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except Exception:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def send(self, webhook_id: str, body: bytes, signature: str) -> None:
        producer = await self._started()
        await producer.send_and_wait(
            self._settings.topics.raw,
            value=body,
            key=webhook_id.encode(),
            headers=[(HEADER_WEBHOOK, webhook_id.encode()), (HEADER_SIGNATURE, signature.encode())],
        )

    async def reachable(self) -> bool:
        """True when a broker answers a metadata request within a few seconds."""
        try:
            async with asyncio.timeout(3):
                producer = await self._started()
                return bool(await producer.client.fetch_all_metadata())
        except Exception:
            return False

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes without reading it all."""
    try:
        return await _read_body(request, limit)
    except ApiError as error:
        INTAKE_REQUESTS.labels(str(error.status)).inc()
        raise


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        INTAKE_REQUESTS.labels("400").inc()
        raise ApiError(400, "ERROR_INVALID_ARGUMENT", f"the body is not JSON: {error}") from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "ERROR_REQUEST_TOO_LARGE", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def accept(request: Request, webhook_id: str, access_key: str, body: bytes) -> dict[str, Any]:
    """Check the sender, then put the body on `events.raw`; `{}` once Kafka acknowledged it."""
    try:
        answer = await _accept(request, webhook_id, access_key, body)
    except ApiError as error:
        INTAKE_REQUESTS.labels(str(error.status)).inc()
        raise
    INTAKE_REQUESTS.labels("200").inc()
    INTAKE_PRODUCED.inc()
    return answer


async def _accept(
    request: Request, webhook_id: str, access_key: str, body: bytes
) -> dict[str, Any]:
    state = request.app.state
    registry: WebhookRegistry = state.registry
    try:
        await registry.authenticate(webhook_id, access_key)
    except WebhookError as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    signature = sign_envelope(state.signing_secret, signing_input(webhook_id, body))
    try:
        await state.raw_producer.send(webhook_id, body, signature)
    except (KafkaError, OSError) as error:
        log.warning("kafka unavailable: %s", error)
        raise ApiError(503, "ERROR_UNAVAILABLE", "Kafka is unavailable; retry later") from None
    return {}


@router.post("/monitoring/v1/webhook/{webhook_id}/{access_key}/events")
async def webhook_events(webhook_id: str, access_key: str, request: Request) -> dict[str, Any]:
    """What monitoring tools call: their own payload, posted to the webhook URL."""
    body = await read_body(request, request.app.state.settings.ingest.max_body_bytes)
    parse_json(body)
    return await accept(request, webhook_id, access_key, body)


@router.post("/monitoring/v1/webhook/{webhook_id}/events")
async def webhook_events_keyed(
    webhook_id: str,
    request: Request,
    x_access_key: Annotated[str, Header(description="the webhook's access key")] = "",
) -> dict[str, Any]:
    """The same, with the key in the `X-Access-Key` header instead of the URL."""
    body = await read_body(request, request.app.state.settings.ingest.max_body_bytes)
    parse_json(body)
    return await accept(request, webhook_id, x_access_key, body)


@router.post("/monitoring/v1/event/create")
async def create_event(request: Request) -> dict[str, Any]:
    """CreateEventRequest `{webhook_id, access_key, data}` (SPEC §2)."""
    body = await read_body(request, request.app.state.settings.ingest.max_body_bytes)
    message = parse_json(body)
    if not isinstance(message, dict) or not {"webhook_id", "access_key", "data"} <= message.keys():
        raise ApiError(
            400, "ERROR_INVALID_ARGUMENT", "the body must be {webhook_id, access_key, data}"
        )
    webhook_id, access_key = str(message["webhook_id"]), str(message["access_key"])
    data = json.dumps(message["data"], ensure_ascii=False, separators=(",", ":")).encode()
    return await accept(request, webhook_id, access_key, data)
