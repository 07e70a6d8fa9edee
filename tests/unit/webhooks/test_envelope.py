"""Signed envelopes: only the intake's exact bytes under the shared secret verify."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ingest.webhooks.envelope import sign_envelope, verify_envelope

SECRET = b"intake-and-processor-share-this"
PAYLOAD = b'{"webhook_id":"webhook-0123456789ab","data":{"alerts":[]}}'


def test_signature_is_versioned_hmac_sha256() -> None:
    expected = hmac.new(SECRET, PAYLOAD, hashlib.sha256).hexdigest()
    assert sign_envelope(SECRET, PAYLOAD) == f"v1={expected}"


def test_round_trip_as_str_and_bytes() -> None:
    signature = sign_envelope(SECRET, PAYLOAD)
    assert verify_envelope(SECRET, PAYLOAD, signature)
    assert verify_envelope(SECRET, PAYLOAD, signature.encode())  # as a Kafka header value


@pytest.mark.parametrize(
    "payload",
    [
        PAYLOAD.replace(b"0123456789ab", b"0123456789ac"),  # another webhook
        PAYLOAD + b" ",
        PAYLOAD[:-1],
        b"",
    ],
)
def test_a_tampered_payload_fails(payload: bytes) -> None:
    assert not verify_envelope(SECRET, payload, sign_envelope(SECRET, PAYLOAD))


def test_a_tampered_or_missing_signature_fails() -> None:
    signature = sign_envelope(SECRET, PAYLOAD)
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for bad in [
        flipped,
        signature[:-1],
        signature.upper(),
        signature[3:],
        "",
        None,
        "v1=é",
        b"\xff",
    ]:
        assert not verify_envelope(SECRET, PAYLOAD, bad)


def test_another_secret_fails() -> None:
    assert not verify_envelope(b"other", PAYLOAD, sign_envelope(SECRET, PAYLOAD))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_envelope(b"", PAYLOAD)
    assert not verify_envelope(b"", PAYLOAD, "v1=" + hmac.new(b"", PAYLOAD, "sha256").hexdigest())
