"""AWS SNS at the processor's edge: signatures, certificate URLs, confirmations. No network."""

from __future__ import annotations

import base64
import copy
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ingest.parsers.aws_sns import subscription_confirmation
from ingest.process.dead_letters import DeadLetter
from ingest.process.normalize import Position
from ingest.process.parse import RawRecord, parse_record
from ingest.webhooks.keys import hash_access_key
from ingest.webhooks.registry import WebhookRegistry
from ingest.webhooks.sns import (
    BadSignature,
    SigningCertificates,
    SnsRequestFailed,
    admit_delivery,
    check_signature,
    confirm_subscription,
    http_getter,
    string_to_sign,
    trusted_sns_url,
    verify_message,
)
from schemas.webhook import PluginInfo, Webhook, WebhookState
from tests.unit.parsers.helpers import load

CERT_URL = (
    "https://sns.eu-west-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)
TOKEN = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
SUBSCRIBE_URL = (
    f"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
    f"&Token={TOKEN}"
)
NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Subject": "My First Message",
    "Message": "Hello world!",
    "Timestamp": "2012-05-02T00:54:06.655Z",
    "SignatureVersion": "1",
    "Signature": "",
    "SigningCertURL": CERT_URL,
    "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&x=y",
}
CONFIRMATION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": TOKEN,
    "TopicArn": TOPIC,
    "Message": "You have chosen to subscribe to the topic.\nTo confirm, visit the SubscribeURL.",
    "SubscribeURL": SUBSCRIBE_URL,
    "Timestamp": "2012-04-26T20:45:04.751Z",
    "SignatureVersion": "1",
    "Signature": "",
    "SigningCertURL": CERT_URL,
}


# --- a self-made signer: an RSA key and its self-signed certificate ---------------------


class Signer:
    def __init__(self, key: Any) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.key = key
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signed = {**message, "SignatureVersion": version}
        signature = self.key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(signature).decode()}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real HTTP request fails the test (MockTransport is still allowed)."""

    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a unit test tried to reach the network")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)


class FakeGet:
    """An HttpGet that answers from a table (bytes, or an exception to raise) and counts."""

    def __init__(self, answers: dict[str, bytes | Exception] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        answer = self.answers.get(url, SnsRequestFailed("HTTP 404", retriable=False))
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def certificates_for(signer: Signer) -> tuple[SigningCertificates, FakeGet]:
    get = FakeGet({CERT_URL: signer.pem})
    return SigningCertificates(get, backoff=0), get


# --- the string to sign, as AWS documents it ----------------------------------------------


def test_notification_string_to_sign_with_subject() -> None:
    assert string_to_sign(NOTIFICATION) == (
        b"Message\nHello world!\n"
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy First Message\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        b"Type\nNotification\n"
    )


@pytest.mark.parametrize("subject", ["absent", None])
def test_notification_string_to_sign_without_subject(subject: str | None) -> None:
    message = {k: v for k, v in NOTIFICATION.items() if k != "Subject"}
    if subject is None:
        message["Subject"] = None  # SNS's JSON may carry "Subject": null
    assert string_to_sign(message) == (
        b"Message\nHello world!\n"
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        b"Type\nNotification\n"
    )


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_confirmation_string_to_sign(kind: str) -> None:
    message = {**CONFIRMATION, "Type": kind, "Subject": "not signed for confirmations"}
    assert (
        string_to_sign(message)
        == (
            "Message\nYou have chosen to subscribe to the topic.\nTo confirm, visit the "
            "SubscribeURL.\n"
            "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
            f"SubscribeURL\n{SUBSCRIBE_URL}\n"
            "Timestamp\n2012-04-26T20:45:04.751Z\n"
            f"Token\n{TOKEN}\n"
            f"TopicArn\n{TOPIC}\n"
            f"Type\n{kind}\n"
        ).encode()
    )


def test_string_to_sign_keeps_unicode_as_utf8() -> None:
    message = {**NOTIFICATION, "Message": '{"AlarmName":"Zürich ✓"}'}
    assert b'Message\n{"AlarmName":"Z\xc3\xbcrich \xe2\x9c\x93"}\n' in string_to_sign(message)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({**NOTIFICATION, "Type": "Other"}, "SNS signs Notification"),
        ({k: v for k, v in NOTIFICATION.items() if k != "MessageId"}, "the signed field 'Mess"),
        ({**CONFIRMATION, "Token": 5}, "the signed field 'Token'"),
    ],
)
def test_string_to_sign_refuses_what_sns_does_not_sign(
    message: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadSignature, match="^" + reason):
        string_to_sign(message)


# --- URLs that may be fetched --------------------------------------------------------------

SNS_URL_CASES = [
    (SUBSCRIBE_URL, True),
    ("https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription", True),
    ("https://sns.us-east-1.amazonaws.com:443/?Action=ConfirmSubscription", True),
    ("http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", False),
    ("https://sns.us-west-2.amazonaws.com.evil.com/?Action=ConfirmSubscription", False),
    ("https://evil.com/sns.us-west-2.amazonaws.com/", False),
    ("https://sns.us-west-2.amazonaws.com@evil.com/", False),
    ("https://user:pw@sns.us-west-2.amazonaws.com/", False),
    ("https://sns.us-west-2.amazonaws.com:8443/", False),
    ("https://sqs.us-west-2.amazonaws.com/", False),
    ("https://sns.amazonaws.com/", False),
    ("https://sns.us-west-2.amazonaws.com\\@evil.com/", False),
    ("https://sns.us-west-2.amazonaws.com/\n.evil.com", False),
    ("https://[::1/", False),
    ("", False),
]


@pytest.mark.parametrize(("url", "trusted"), SNS_URL_CASES)
def test_subscribe_urls_agree_with_the_parser(url: str, trusted: bool) -> None:
    assert (trusted_sns_url(url) is not None) is trusted
    parsed = subscription_confirmation({"Type": "SubscriptionConfirmation", "SubscribeURL": url})
    assert (parsed is not None) is trusted


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        (CERT_URL, True),
        ("https://sns.ap-southeast-2.amazonaws.com/SimpleNotificationService-x.pem", True),
        ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.com/SimpleNotificationService-x.pem", False),
        ("https://evil.com/sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com@evil.com/x.pem", False),
        ("https://evil.com/x.pem?https://sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem.txt", False),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x", False),
        ("https://sns.eu-west-1.amazonaws.com/x.pem?redirect=evil", False),
        ("https://sns.eu-west-1.amazonaws.com/x.pem#frag", False),
        ("https://sns.eu-west-1.amazonaws.com:444/x.pem", False),
        (None, False),
        (42, False),
    ],
)
def test_certificate_urls(url: object, trusted: bool) -> None:
    assert (trusted_sns_url(url, certificate=True) is not None) is trusted


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("base", [NOTIFICATION, CONFIRMATION])
def test_signature_round_trip(signer: Signer, base: dict[str, Any], version: str) -> None:
    message = signer.sign(base, version)
    check_signature(message, signer.certificate)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.update(Message="Hello world?"),
        lambda m: m.update(Subject="Another subject"),
        lambda m: m.pop("Subject"),
        lambda m: m.update(TopicArn="arn:aws:sns:us-west-2:999999999999:MyTopic"),
        lambda m: m.update(SignatureVersion="2"),  # signed with SHA1, claims SHA256
    ],
)
def test_a_tampered_message_fails(signer: Signer, tamper: Any) -> None:
    message = signer.sign(NOTIFICATION, "1")
    check_signature(message, signer.certificate)
    tamper(message)
    with pytest.raises(BadSignature, match="does not match"):
        check_signature(message, signer.certificate)


def test_another_key_fails(signer: Signer) -> None:
    other = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(BadSignature, match="does not match"):
        check_signature(other.sign(NOTIFICATION, "2"), signer.certificate)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SignatureVersion": "3"}, "SignatureVersion '3'"),
        ({"SignatureVersion": 1}, "SignatureVersion 1 "),
        ({"Signature": "not base64!"}, "the Signature is not base64"),
        ({"Signature": ""}, "the message has no Signature"),
    ],
)
def test_malformed_signatures(signer: Signer, change: dict[str, Any], reason: str) -> None:
    message = {**signer.sign(NOTIFICATION), **change}
    with pytest.raises(BadSignature, match="^" + reason):
        check_signature(message, signer.certificate)


def test_a_non_rsa_certificate_is_refused() -> None:
    ec_signer = Signer(ec.generate_private_key(ec.SECP256R1()))
    message = {**NOTIFICATION, "Signature": base64.b64encode(b"x" * 64).decode()}
    with pytest.raises(BadSignature, match="not RSA"):
        check_signature(message, ec_signer.certificate)


# --- certificates, fetched once ------------------------------------------------------------


async def test_verify_message_fetches_the_certificate_once(signer: Signer) -> None:
    certificates, get = certificates_for(signer)
    await verify_message(signer.sign(NOTIFICATION, "2"), certificates)
    await verify_message(signer.sign(CONFIRMATION, "1"), certificates)
    assert get.calls == [CERT_URL]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/SimpleNotificationService-x.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.txt",
    ],
)
async def test_an_untrusted_certificate_url_is_never_fetched(signer: Signer, url: str) -> None:
    certificates, get = certificates_for(signer)
    get.answers[url] = signer.pem
    message = signer.sign({**NOTIFICATION, "SigningCertURL": url})
    with pytest.raises(BadSignature, match="SigningCertURL"):
        await verify_message(message, certificates)
    with pytest.raises(BadSignature, match="SigningCertURL"):
        await certificates.get(url)
    assert get.calls == []


@pytest.mark.parametrize("data", [[1], {"AlarmArn": "arn"}, {"Type": "Notification"}])
async def test_an_unsigned_payload_fails_verification(signer: Signer, data: Any) -> None:
    certificates, get = certificates_for(signer)
    with pytest.raises(BadSignature, match="not a signed SNS message"):
        await verify_message(data, certificates)
    assert get.calls == []


async def test_an_unreachable_certificate_is_retried_then_remembered(
    signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    get = FakeGet({CERT_URL: SnsRequestFailed("no answer within 10 s", retriable=True)})
    clock = Clock()
    certificates = SigningCertificates(get, attempts=3, backoff=0, failure_ttl=60, clock=clock)
    with caplog.at_level(logging.WARNING, "eventpipe.sns"):
        with pytest.raises(BadSignature, match=r"could not be fetched .*after 3 attempts"):
            await certificates.get(CERT_URL)
    assert len(get.calls) == 3 and "signing certificate could not be fetched" in caplog.text
    with pytest.raises(BadSignature, match="could not be fetched"):
        await certificates.get(CERT_URL)
    assert len(get.calls) == 3  # remembered: no new round of retries
    clock.now += 61
    get.answers[CERT_URL] = signer.pem
    assert await certificates.get(CERT_URL) == signer.certificate
    assert len(get.calls) == 4


async def test_a_refused_certificate_is_not_retried(signer: Signer) -> None:
    get = FakeGet()  # 404
    with pytest.raises(BadSignature, match=r"HTTP 404, after 1 attempt\)"):
        await SigningCertificates(get, backoff=0).get(CERT_URL)
    assert len(get.calls) == 1


async def test_a_body_that_is_not_pem_fails(signer: Signer) -> None:
    get = FakeGet({CERT_URL: b"<html>hello</html>"})
    with pytest.raises(BadSignature, match="did not answer a PEM certificate"):
        await SigningCertificates(get, backoff=0).get(CERT_URL)


# --- confirming subscriptions ----------------------------------------------------------------


async def test_confirm_gets_the_subscribe_url(caplog: pytest.LogCaptureFixture) -> None:
    get = FakeGet({SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>"})
    with caplog.at_level(logging.INFO, "eventpipe.sns"):
        assert await confirm_subscription(SUBSCRIBE_URL, get, webhook_id="webhook-1")
    assert get.calls == [SUBSCRIBE_URL]
    assert "confirmed (webhook webhook-1) via sns.us-west-2.amazonaws.com" in caplog.text
    assert TOPIC in caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize("url", [u for u, trusted in SNS_URL_CASES if not trusted])
async def test_confirm_refuses_other_hosts(url: str, caplog: pytest.LogCaptureFixture) -> None:
    get = FakeGet({url: b"ok"})
    with caplog.at_level(logging.WARNING, "eventpipe.sns"):
        assert not await confirm_subscription(url + f"&Token={TOKEN}", get)
    assert get.calls == []
    assert "not https on an sns.<region>.amazonaws.com host" in caplog.text
    assert TOKEN not in caplog.text


async def test_confirm_retries_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    get = FakeGet({SUBSCRIBE_URL: OSError(f"boom {SUBSCRIBE_URL}")})
    with caplog.at_level(logging.ERROR, "eventpipe.sns"):
        assert not await confirm_subscription(SUBSCRIBE_URL, get, attempts=4, backoff=0)
    assert get.calls == [SUBSCRIBE_URL] * 4
    assert "OSError, after 4 attempts" in caplog.text and TOKEN not in caplog.text


async def test_confirm_does_not_retry_a_refusal() -> None:
    get = FakeGet({SUBSCRIBE_URL: SnsRequestFailed("HTTP 403", retriable=False)})
    assert not await confirm_subscription(SUBSCRIBE_URL, get, attempts=4, backoff=0)
    assert len(get.calls) == 1


# --- the default getter, over a mock transport -----------------------------------------------


def answering(status: int, body: bytes = b"", **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda _: httpx.Response(status, content=body, headers=headers))


async def test_http_getter_returns_a_2xx_body() -> None:
    assert await http_getter(transport=answering(200, b"pem"))(CERT_URL) == b"pem"


@pytest.mark.parametrize(
    ("transport", "reason", "retriable"),
    [
        (answering(302, location="https://evil.com/x.pem"), "HTTP 302", False),
        (answering(404), "HTTP 404", False),
        (answering(429), "HTTP 429", True),
        (answering(503), "HTTP 503", True),
    ],
)
async def test_http_getter_failures(
    transport: httpx.MockTransport, reason: str, retriable: bool
) -> None:
    with pytest.raises(SnsRequestFailed) as failed:
        await http_getter(transport=transport)(SUBSCRIBE_URL)
    assert (failed.value.reason, failed.value.retriable) == (reason, retriable)


@pytest.mark.parametrize(
    ("error", "reason"),
    [(httpx.ConnectTimeout, "no answer within 10 s"), (httpx.ConnectError, "ConnectError")],
)
async def test_http_getter_transport_errors_are_retriable(error: type, reason: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error(f"failed {request.url}", request=request)

    with pytest.raises(SnsRequestFailed) as failed:
        await http_getter(transport=httpx.MockTransport(fail))(SUBSCRIBE_URL)
    assert (failed.value.reason, failed.value.retriable) == (reason, True)
    assert TOKEN not in failed.value.reason


# --- admit_delivery and the parse stage ------------------------------------------------------

WEBHOOK_ID = "webhook-0123456789ab"
KEY = "the-right-key-0123456789012345678901234567"
POSITION = Position("events.raw", 0, 7)


def webhook(plugin_id: str = "aws-sns", **options: Any) -> Webhook:
    now = datetime.now(UTC)
    return Webhook(
        webhook_id=WEBHOOK_ID,
        name="aws",
        state=WebhookState.ENABLED,
        plugin_info=PluginInfo(plugin_id=plugin_id, options=options),
        project_id="p",
        domain_id="d",
        tags={},
        created_at=now,
        updated_at=now,
        access_key_sha256=hash_access_key(KEY),
    )


class FakeStore:
    def __init__(self, hook: Webhook) -> None:
        self.hook = hook

    async def find(self, webhook_id: str) -> Webhook | None:
        return self.hook if webhook_id == self.hook.webhook_id else None


def direct_record(data: Any) -> RawRecord:
    value = json.dumps({"webhook_id": WEBHOOK_ID, "access_key": KEY, "data": data}).encode()
    return RawRecord(POSITION, datetime(2024, 5, 1, tzinfo=UTC), value)


@pytest.fixture
def alarm_notification() -> dict[str, Any]:
    message = load("aws_sns/cloudwatch_alarm.json")
    return {**message, "SigningCertURL": CERT_URL}


async def run(
    hook: Webhook,
    data: Any,
    *,
    get: FakeGet | None = None,
    certificates: SigningCertificates | None = None,
) -> Any:
    registry = WebhookRegistry(FakeStore(hook))
    return await parse_record(
        direct_record(data), registry, b"secret",
        http_get=get or FakeGet(), certificates=certificates or SigningCertificates(FakeGet()),
    )  # fmt: skip


@pytest.mark.parametrize("on", [True, "true", " Yes", "1"])
async def test_a_confirmation_is_confirmed_when_the_option_is_on(
    on: Any, caplog: pytest.LogCaptureFixture
) -> None:
    get = FakeGet({SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>"})
    with caplog.at_level(logging.INFO, "eventpipe.sns"):
        assert await run(webhook(confirm_subscription=on), CONFIRMATION, get=get) == []
    assert get.calls == [SUBSCRIBE_URL]
    assert f"subscription to {TOPIC} confirmed (webhook {WEBHOOK_ID})" in caplog.text


@pytest.mark.parametrize("options", [{}, {"confirm_subscription": False},
                                     {"confirm_subscription": "no"},
                                     {"confirm_subscription": 1}])  # fmt: skip
async def test_a_confirmation_is_only_logged_when_the_option_is_off(
    options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    get = FakeGet({SUBSCRIBE_URL: b"ok"})
    with caplog.at_level(logging.WARNING, "eventpipe.sns"):
        assert await run(webhook(**options), CONFIRMATION, get=get) == []
    assert get.calls == []
    line = caplog.text
    assert "confirm_subscription is off" in line and TOPIC in line and TOKEN not in line
    assert (
        f"eventpipe webhook update {WEBHOOK_ID} "
        """--options-json '{"confirm_subscription": true}'""" in line
    )
    assert "/monitoring/v1/webhook/update" in line


async def test_a_confirmation_to_another_host_is_not_fetched() -> None:
    evil = {**CONFIRMATION, "SubscribeURL": "https://evil.com/?Action=ConfirmSubscription"}
    get = FakeGet({evil["SubscribeURL"]: b"ok"})
    assert await run(webhook(confirm_subscription=True), evil, get=get) == []
    assert get.calls == []


async def test_other_plugins_are_not_screened() -> None:
    get = FakeGet({SUBSCRIBE_URL: b"ok"})
    outcome = await run(
        webhook("standard", confirm_subscription=True, verify_signature=True),
        CONFIRMATION,
        get=get,
    )
    assert get.calls == [] and not isinstance(outcome, DeadLetter)


async def test_unsigned_notifications_parse_when_verification_is_off(
    alarm_notification: dict[str, Any],
) -> None:
    events = await run(webhook(), {**alarm_notification, "Signature": "forged"})
    assert [json.loads(e.doc)["title"] for e in events] == ["web-1 CPU high"]


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_notification_parses_when_verification_is_on(
    signer: Signer, alarm_notification: dict[str, Any], version: str
) -> None:
    certificates, _ = certificates_for(signer)
    message = signer.sign(alarm_notification, version)
    events = await run(webhook(verify_signature=True), message, certificates=certificates)
    assert [json.loads(e.doc)["title"] for e in events] == ["web-1 CPU high"]


async def test_a_tampered_notification_is_a_dead_letter(
    signer: Signer, alarm_notification: dict[str, Any]
) -> None:
    certificates, _ = certificates_for(signer)
    message = signer.sign(alarm_notification)
    message["Message"] = message["Message"].replace('"ALARM"', '"OK"')
    outcome = await run(webhook(verify_signature=True), message, certificates=certificates)
    assert isinstance(outcome, DeadLetter)
    assert outcome.code == "ERROR_BAD_SIGNATURE" and outcome.position == POSITION
    assert outcome.reason.startswith("AWS SNS message signature not verified: the Signature")


async def test_an_unreachable_certificate_is_a_dead_letter(
    alarm_notification: dict[str, Any], signer: Signer
) -> None:
    get = FakeGet({CERT_URL: SnsRequestFailed("no answer within 10 s", retriable=True)})
    certificates = SigningCertificates(get, attempts=2, backoff=0)
    outcome = await run(
        webhook(verify_signature="true"), signer.sign(alarm_notification), certificates=certificates
    )
    assert isinstance(outcome, DeadLetter) and outcome.code == "ERROR_BAD_SIGNATURE"
    assert "could not be fetched (no answer within 10 s, after 2 attempts)" in outcome.reason
    assert len(get.calls) == 2


async def test_a_bare_payload_is_a_dead_letter_when_verification_is_on() -> None:
    bare = json.loads(load("aws_sns/cloudwatch_alarm.json")["Message"])
    outcome = await run(webhook(verify_signature=True), bare)
    assert isinstance(outcome, DeadLetter) and "not a signed SNS message" in outcome.reason


async def test_a_signed_confirmation_is_verified_before_it_is_confirmed(signer: Signer) -> None:
    certificates, _ = certificates_for(signer)
    hook = webhook(verify_signature=True, confirm_subscription=True)
    get = FakeGet({SUBSCRIBE_URL: b"ok"})
    assert await run(hook, signer.sign(CONFIRMATION), get=get, certificates=certificates) == []
    assert get.calls == [SUBSCRIBE_URL]

    forged = copy.deepcopy(signer.sign(CONFIRMATION))
    forged["TopicArn"] = "arn:aws:sns:us-west-2:999999999999:Other"
    get = FakeGet({SUBSCRIBE_URL: b"ok"})
    outcome = await run(hook, forged, get=get, certificates=certificates)
    assert isinstance(outcome, DeadLetter) and outcome.code == "ERROR_BAD_SIGNATURE"
    assert get.calls == []


async def test_a_verification_bug_is_a_dead_letter_not_a_stuck_partition(
    alarm_notification: dict[str, Any],
) -> None:
    class Broken:
        async def get(self, url: str) -> x509.Certificate:
            raise RuntimeError("bug")

    with pytest.raises(BadSignature, match="verification failed: RuntimeError"):
        await admit_delivery(
            WEBHOOK_ID, {"verify_signature": True}, alarm_notification, certificates=Broken()
        )
