"""Log lines never carry a client's secrets, nor more than a bounded piece of what it sent."""

from __future__ import annotations

import json
import logging

import pytest

from deploy.logs import MAX_MESSAGE_CHARS, JsonFormatter, scrub


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST /monitoring/v1/webhook/webhook-0123456789ab/K3y-s3cret/events", "K3y-s3cret"),
        ("'/monitoring/v1/webhook/x/K3y/events'", "K3y"),
        ("caller ep_0123456789ab_AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx"),
        ('{"x-access-key": "s3cr3t-value"}', "s3cr3t-value"),
        ("Authorization: Bearer tok3n-value", "tok3n-value"),
        ('{"webhook_id": "w", "access_key": "s3cr3t-value", "data": {}}', "s3cr3t-value"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    assert "***" in scrub(text)


def test_the_keyless_webhook_route_is_left_as_is() -> None:
    text = "POST /monitoring/v1/webhook/webhook-0123456789ab/events"
    assert scrub(text) == text


def test_long_messages_are_cut() -> None:
    cut = scrub("x" * 100_000)
    assert len(cut) < MAX_MESSAGE_CHARS + 50 and cut.endswith("(98000 more characters)")


def test_the_formatter_scrubs_messages_and_tracebacks() -> None:
    try:
        raise ValueError("bad body " + "y" * 50_000 + " ep_0123456789ab_SECRETSECRETSECRET")
    except ValueError:
        record = logging.LogRecord(
            "eventpipe.intake", logging.ERROR, __file__, 1,
            "refused %s", ("/webhook/w/SECRETKEY/events",), exc_info=True,
        )  # fmt: skip
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert "SECRETKEY" not in line["message"] and "SECRET" not in line["error"]
    assert len(line["error"]) < 4 * MAX_MESSAGE_CHARS + 50
