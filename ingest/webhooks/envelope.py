"""Signed envelopes: how the stream processor trusts records the HTTP intake already checked.

The intake authenticates a sender with its access key, then writes the record to
`events.raw` signed with a secret shared by intake and processor, instead of the
plain access key: so no key ever lands in Kafka, on disk or in a consumer's logs.
The processor verifies the signature (which covers the whole record value,
webhook_id included) and then only needs the webhook to exist and be enabled
(`WebhookRegistry.authorize`). Records produced straight to Kafka by other
producers carry `webhook_id` and `access_key` and go through `authenticate`.
"""

from __future__ import annotations

import hashlib
import hmac

VERSION = "v1"


def sign_envelope(secret: bytes, payload: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of payload>`; the version prefix lets the scheme change later."""
    if not secret:
        raise ValueError("an envelope secret must not be empty")
    return f"{VERSION}={hmac.new(secret, payload, hashlib.sha256).hexdigest()}"


def verify_envelope(secret: bytes, payload: bytes, signature: str | bytes | None) -> bool:
    """True only for the signature `sign_envelope` makes of exactly this payload and secret."""
    if not secret or not signature:
        return False
    given = signature.encode() if isinstance(signature, str) else signature
    return hmac.compare_digest(sign_envelope(secret, payload).encode(), given)
