"""Step 1 of the worker: a raw record -> events for `events.normalized`, or a dead letter.

Authenticates (a signed intake record by its signature, a direct record by its
access key, both through the webhook registry), parses with the webhook's parser
and stamps the events (SPEC §4 steps 1-4); `aws-sns` deliveries are screened by
`ingest.webhooks.sns` first (signature, subscription confirmation). Only one kind of
failure escapes `parse_record`: the webhook store being unreachable, which the
caller retries; everything a record itself gets wrong ends as a dead letter, so
no record can block its partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from ingest.parsers.registry import get_parser
from ingest.process.dead_letters import DeadLetter, KeyedLetter
from ingest.process.normalize import (
    InvalidRecord,
    NormalizedEvent,
    Position,
    decode_record,
    parse_error_event,
    record_origin,
    signing_input,
    to_events,
)
from ingest.process.rules import RuleSource, rules_for
from ingest.retry import Invalid, retry
from ingest.webhooks.envelope import verify_envelope
from ingest.webhooks.registry import WebhookRegistry
from ingest.webhooks.sns import (
    SIGNING_CERTIFICATES,
    SNS_PLUGIN_ID,
    BadSignature,
    CertificateSource,
    HttpGet,
    admit_delivery,
    get_from_aws,
)
from schemas.event import ParsedEvent
from schemas.parser import ParseError
from schemas.webhook import Webhook, WebhookError

log = logging.getLogger("eventpipe.parse")


class RawRecord(NamedTuple):
    """A record of `events.raw`: where it sits, when Kafka took it, its bytes and headers,
    and the id of the Kafka cluster it was read from (event ids derive from all but the
    bytes: `normalize.record_origin`)."""

    position: Position
    timestamp: datetime
    value: bytes | None
    headers: dict[str, bytes] = {}  # noqa: RUF012 (never mutated)
    cluster_id: str = ""


async def parse_record(
    record: RawRecord,
    registry: WebhookRegistry,
    secret: bytes,
    *,
    rules: RuleSource | None = None,
    http_get: HttpGet = get_from_aws,
    certificates: CertificateSource = SIGNING_CERTIFICATES,
    duplicate_window: float = 0.0,
) -> list[NormalizedEvent] | DeadLetter:
    """The events of one raw record, or the dead letter it becomes.

    Each event carries its webhook's duplicate window (SPEC §4.6), `duplicate_window`
    (the settings' default) for a webhook that sets none.

    `aws-sns` deliveries first pass `ingest.webhooks.sns.admit_delivery` (its options
    verify_signature and confirm_subscription): a bad signature is a dead letter, a
    SubscriptionConfirmation makes no events. `http_get` and `certificates` are where
    that reaches AWS. `rules` are the event rules, run on every event (`ingest.process.rules`).
    """
    try:
        submission = decode_record(record.value, record.headers)
    except InvalidRecord as invalid:
        return DeadLetter(record.position, record.value, invalid.code, invalid.reason)
    try:
        if submission.signature is not None:
            signed = signing_input(submission.webhook_id, submission.signed_bytes)
            if not verify_envelope(secret, signed, submission.signature):
                return DeadLetter(
                    record.position, record.value, "ERROR_BAD_SIGNATURE",
                    "the record's signature does not match: not written by an eventpipe intake",
                )  # fmt: skip
            webhook = await registry.authorize(submission.webhook_id)
        else:
            webhook = await registry.authenticate(
                submission.webhook_id, submission.access_key or ""
            )
    except WebhookError as refused:
        return DeadLetter(record.position, record.value, refused.code, refused.message)

    if webhook.plugin_info.plugin_id == SNS_PLUGIN_ID:
        try:
            admitted = await admit_delivery(
                webhook.webhook_id, webhook.plugin_info.options, submission.data,
                http_get=http_get, certificates=certificates,
            )  # fmt: skip
        except BadSignature as bad:
            return DeadLetter(
                record.position, record.value, bad.code,
                f"AWS SNS message signature not verified: {bad.reason}",
            )  # fmt: skip
        if not admitted:
            return []
    parsed = run_parser(webhook, submission.data)
    window = webhook.duplicate_window_seconds
    return to_events(
        parsed,
        payload=submission.data,
        origin=record_origin(record.cluster_id, record.position, record.timestamp),
        created_at=record.timestamp.astimezone(UTC),
        webhook_id=webhook.webhook_id,
        project_id=webhook.project_id,
        domain_id=webhook.domain_id,
        duplicate_window=duplicate_window if window is None else window,
        rules=rules_for(rules, webhook),
    )


def run_parser(webhook: Webhook, data: object) -> list[ParsedEvent]:
    """The webhook's parser on the payload; any failure becomes SPEC §4.3's ERROR event."""
    try:
        parser = get_parser(webhook.plugin_info.plugin_id)
        return parser(data, webhook.plugin_info.options)
    except ParseError as error:
        failure = error
    except Exception as error:  # a parser bug must not stop the stream either
        log.exception("parser %s failed", webhook.plugin_info.plugin_id)
        failure = ParseError(f"the {webhook.plugin_info.plugin_id} parser failed: {error!r}")
    return [parse_error_event(webhook.webhook_id, webhook.name, failure)]


@dataclass
class ParsedBatch:
    """A batch of raw records after parsing: the events, and the records that became
    dead letters (keyed like their source record)."""

    events: list[NormalizedEvent] = field(default_factory=list)
    letters: list[KeyedLetter] = field(default_factory=list)


async def parse_batch(
    records: Sequence[tuple[RawRecord, bytes | None]],
    registry: WebhookRegistry,
    secret: bytes,
    stopping: Callable[[], bool],
    duplicate_window: float = 0.0,
    rules: RuleSource | None = None,
) -> ParsedBatch:
    """Parse every (record, key) pair; a webhook store that cannot be read is waited for.
    `duplicate_window`: the settings' default for webhooks that set none (SPEC §4.6)."""
    out = ParsedBatch()
    options = {"duplicate_window": duplicate_window, "rules": rules}
    for record, key in records:
        try:
            try:
                outcome = await parse_record(record, registry, secret, **options)
            except Exception:  # the webhook store: wait for it as for any dependency
                outcome = await retry(
                    lambda record=record: parse_record(record, registry, secret, **options),
                    "reading the webhook store", stopping,
                )  # fmt: skip
        except Invalid as invalid:
            outcome = DeadLetter(
                record.position, record.value, "ERROR_WEBHOOK_LOOKUP", invalid.reason
            )
        if isinstance(outcome, DeadLetter):
            out.letters.append((key, outcome))
        else:
            out.events += outcome
    return out
