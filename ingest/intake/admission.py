"""Admission of a webhook payload: the sender checked (SPEC §4.1) and its rate, then the
body onto `events.raw`, answered only once Kafka has it.

The sender is checked first (404, 403, 400 disabled), before any body is read, so an
unknown or refused sender costs no body; the body must be JSON (400) and at most
`max_body_bytes` (413). The record carries the body as received, the webhook id and an
HMAC signature in headers — never the access key. `Intake` holds what this needs, built
once by the process that serves the intake (`eventpipe api` or `eventpipe intake`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ingest.intake.limits import parse_json, read_body, refused
from ingest.intake.producer import KafkaUnavailable, RawProducer
from ingest.intake.ratelimit import RateLimiter
from ingest.kafka.produce import SEND_ERRORS, too_large
from ingest.metrics import INTAKE_PRODUCED, INTAKE_REQUESTS, RATE_LIMITED
from ingest.process.normalize import signing_input
from ingest.webhooks.envelope import sign_envelope
from ingest.webhooks.registry import WebhookRegistry
from schemas.settings import Settings
from schemas.webhook import WebhookError

log = logging.getLogger("eventpipe.intake")


@dataclass
class Intake:
    """What admitting a payload takes: the webhooks (from Kafka), the per-webhook rate,
    the producer and the secret records are signed with."""

    settings: Settings
    registry: WebhookRegistry
    limiter: RateLimiter
    producer: RawProducer
    signing_secret: bytes


async def admit(intake: Intake, webhook_id: str, access_key: str) -> None:
    """Check the sender (SPEC §4.1) and its webhook's rate; raises the refusal."""
    registry = intake.registry
    retry_after = intake.settings.api.retry_after_seconds
    try:
        if registry.ready:
            await registry.authenticate(webhook_id, access_key)
        else:  # start-up: the webhooks topic has not been read whole yet; wait, within bounds
            async with asyncio.timeout(intake.settings.ingest.kafka_timeout_seconds):
                await registry.authenticate(webhook_id, access_key)
    except WebhookError as refusal:
        retry = retry_after if refusal.status == 503 else None
        raise refused(refusal.status, refusal.code, refusal.message, retry) from None
    except TimeoutError:
        raise refused(
            503, "ERROR_UNAVAILABLE", "webhooks not loaded from Kafka yet; retry later", retry_after
        ) from None
    wait = intake.limiter.wait(webhook_id)
    if wait > 0:
        RATE_LIMITED.labels("webhook").inc()
        raise refused(
            429, "ERROR_TOO_MANY_REQUESTS",
            f"webhook {webhook_id!r} is over its rate of "
            f"{intake.limiter.rate:g} requests/s; retry later", wait,
        )  # fmt: skip


async def produce(intake: Intake, webhook_id: str, body: bytes) -> dict[str, Any]:
    """Put an admitted body on `events.raw`; `{}` once Kafka acknowledged it."""
    signature = sign_envelope(intake.signing_secret, signing_input(webhook_id, body))
    try:
        await intake.producer.send(webhook_id, body, signature)
    except KafkaUnavailable:
        raise refused(
            503, "ERROR_UNAVAILABLE", "Kafka is unavailable; retry later",
            intake.settings.api.retry_after_seconds,
        ) from None  # fmt: skip
    except SEND_ERRORS as error:
        if too_large(error):
            raise refused(
                413, "ERROR_REQUEST_TOO_LARGE", "the body is larger than Kafka takes in one record"
            ) from None
        log.warning("kafka unavailable: %r", error)
        raise refused(
            503, "ERROR_UNAVAILABLE", "Kafka is unavailable; retry later",
            intake.settings.api.retry_after_seconds,
        ) from None  # fmt: skip
    INTAKE_REQUESTS.labels("200").inc()
    INTAKE_PRODUCED.inc()
    return {}


async def accept(intake: Intake, webhook_id: str, access_key: str, body: bytes) -> dict[str, Any]:
    """Check the sender and its rate, then put the body on `events.raw` (gRPC's create)."""
    await admit(intake, webhook_id, access_key)
    return await produce(intake, webhook_id, body)


async def receive_webhook(
    intake: Intake,
    webhook_id: str,
    access_key: str,
    chunks: AsyncIterator[bytes],
    declared: str | None,
) -> dict[str, Any]:
    """A monitoring tool's own payload for a webhook: the sender and its rate are checked
    before the body is read, so an unknown or refused sender costs no body; then the size
    cap, the JSON check, and Kafka."""
    await admit(intake, webhook_id, access_key)
    body = await read_body(chunks, declared, intake.settings.ingest.max_body_bytes)
    parse_json(body, intake.settings.ingest.max_json_depth)
    return await produce(intake, webhook_id, body)
