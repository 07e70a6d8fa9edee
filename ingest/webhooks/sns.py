"""AWS SNS at the processor's edge: message signatures and subscription confirmations.

The `aws-sns` parser does no I/O; what needs AWS happens here, before it runs
(`ingest.process.parse.parse_record` calls `admit_delivery` for `aws-sns` webhooks).

Options of an `aws-sns` webhook (`plugin_info.options`; JSON true, or the text
"true"/"yes"/"on"/"1" that `--option KEY=VALUE` gives, turns one on):

- `confirm_subscription` (default false): a SubscriptionConfirmation is confirmed by
  a GET to its SubscribeURL, only if that is https on an `sns.<region>.amazonaws.com`
  host; when off, a log line says how to turn it on. Either way it makes no event.
- `verify_signature` (default false): every delivery must carry a valid SNS signature
  (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA) by the certificate at its
  SigningCertURL (https, an `sns.<region>.amazonaws.com` host, a `.pem` path); else the
  record is dead-lettered with ERROR_BAD_SIGNATURE. Raw message delivery and bare
  payloads carry no signature, so they are refused too.

Pure parts: `trusted_sns_url`, `string_to_sign`, `check_signature`. I/O: `get_from_aws`
(httpx, 10 s timeout, no redirects), `confirm_subscription`, `SigningCertificates`
(fetched once per URL). Nothing here raises past `admit_delivery` except
`BadSignature`, and every request is retried a bounded number of times, so no record
can hold its partition. The SubscribeURL carries a token: logs show only its host
and TopicArn.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ingest.parsers.aws_sns import sns_url
from ingest.retry import Backoff

log = logging.getLogger("eventpipe.sns")

SNS_PLUGIN_ID = "aws-sns"
TIMEOUT_SECONDS = 10.0
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
TRUE_TEXTS = {"true", "yes", "on", "1"}
# AWS's documented string to sign: these keys, in this order, as "Key\nValue\n".
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")  # fmt: skip
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": CONFIRMATION_KEYS,
}
OPTIONAL_KEYS = {"Subject"}  # signed only when the message has it
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}

HttpGet = Callable[[str], Awaitable[bytes]]


class SnsRequestFailed(Exception):
    """A GET to AWS that did not answer 2xx; `retriable` says whether trying again may help."""

    def __init__(self, reason: str, *, retriable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable


class BadSignature(Exception):
    """A delivery whose signature cannot be verified: it is dead-lettered, never retried."""

    code = "ERROR_BAD_SIGNATURE"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CertificateSource(Protocol):
    async def get(self, url: str) -> x509.Certificate: ...


def http_getter(
    *, timeout: float = TIMEOUT_SECONDS, transport: httpx.AsyncBaseTransport | None = None
) -> HttpGet:
    """A GET that returns the body of a 2xx answer and raises SnsRequestFailed otherwise.

    Redirects are not followed (they could lead off AWS). 429 and 5xx are retriable,
    other statuses not; the reasons never contain the URL.
    """

    async def get(url: str) -> bytes:
        try:
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, transport=transport
            ) as client:
                response = await client.get(url)
        except httpx.TimeoutException:
            raise SnsRequestFailed(f"no answer within {timeout:g} s", retriable=True) from None
        except httpx.HTTPError as error:
            raise SnsRequestFailed(type(error).__name__, retriable=True) from None
        if not response.is_success:
            status = response.status_code
            raise SnsRequestFailed(f"HTTP {status}", retriable=status == 429 or status >= 500)
        return response.content

    return get


get_from_aws = http_getter()


def option_on(options: Mapping[str, Any], name: str) -> bool:
    """An option is on when it is JSON true or a text that says so (`--option name=true`)."""
    value = options.get(name, False)
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXTS
    return value is True


def trusted_sns_url(url: object, *, certificate: bool = False) -> str | None:
    """`url` if it passes `aws_sns.sns_url` (https to `sns.<region>.amazonaws.com`), else None.

    For a SigningCertURL (`certificate=True`) the path must also end with `.pem`, with no
    query or fragment.
    """
    checked = sns_url(url)
    if checked is None:
        return None
    parts = urlsplit(checked)
    if certificate and (not parts.path.endswith(".pem") or parts.query or parts.fragment):
        return None
    return checked


def url_host(url: object) -> str:
    """The host of a URL for a log line (never its query, which may hold a token)."""
    try:
        host = urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        host = None
    return (host or "no host")[:100]


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """AWS's canonical form of an SNS message: its signed keys, in order, as "Key\\nValue\\n"."""
    kind = message.get("Type")
    keys = SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise BadSignature(f"SNS signs Notification and (Un)SubscriptionConfirmation, not {kind!r}")
    lines = []
    for key in keys:
        value = message.get(key)
        if value is None and key in OPTIONAL_KEYS:
            continue
        if not isinstance(value, str):
            raise BadSignature(f"the signed field {key!r} is missing or not text")
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode()


def check_signature(message: Mapping[str, Any], certificate: x509.Certificate) -> None:
    """Raise BadSignature unless `Signature` is the certificate's signature of the message."""
    version = message.get("SignatureVersion")
    hash_algorithm = SIGNATURE_HASHES.get(version) if isinstance(version, str) else None
    if hash_algorithm is None:
        raise BadSignature(f"SignatureVersion {version!r} is neither '1' (SHA1) nor '2' (SHA256)")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise BadSignature("the Signature is not base64") from None
    if not signature:
        raise BadSignature("the message has no Signature")
    signed = string_to_sign(message)
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadSignature("the signing certificate's public key cannot be read") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadSignature("the signing certificate's key is not RSA")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hash_algorithm())
    except InvalidSignature:
        raise BadSignature(
            "the Signature does not match the message: altered, or not signed by SNS"
        ) from None


async def verify_message(data: Any, certificates: CertificateSource) -> None:
    """Raise BadSignature unless `data` is an SNS message signed with its SigningCertURL's key."""
    if not isinstance(data, Mapping) or "Type" not in data or "Signature" not in data:
        raise BadSignature(
            "verify_signature is on, but the payload is not a signed SNS message "
            "(no 'Type' or 'Signature'; raw message delivery cannot be verified)"
        )
    url = data.get("SigningCertURL")
    if trusted_sns_url(url, certificate=True) is None:
        raise _untrusted_certificate_url(url)
    check_signature(data, await certificates.get(url))


class SigningCertificates:
    """SNS signing certificates by URL, each fetched once; a failed fetch is remembered briefly.

    `get` checks the URL first, so nothing but an SNS host is ever fetched. Remembering a
    failure for `failure_ttl` seconds keeps an AWS outage from costing every record of a
    batch its own round of retries.
    """

    def __init__(
        self,
        http_get: HttpGet = get_from_aws,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        failure_ttl: float = 60.0,
        max_entries: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http_get = http_get
        self._attempts = attempts
        self._backoff = backoff
        self._failure_ttl = failure_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._failures: dict[str, tuple[float, str]] = {}

    async def get(self, url: str) -> x509.Certificate:
        checked = trusted_sns_url(url, certificate=True)
        if checked is None:
            raise _untrusted_certificate_url(url)
        if checked in self._certificates:
            return self._certificates[checked]
        failed = self._failures.get(checked)
        if failed is not None and self._clock() < failed[0]:
            raise BadSignature(failed[1])
        try:
            body = await get_with_retries(checked, self._http_get, self._attempts, self._backoff)
        except SnsRequestFailed as error:
            reason = f"the signing certificate could not be fetched ({error.reason})"
            self._failures[checked] = (self._clock() + self._failure_ttl, reason)
            log.warning("AWS SNS: %s; its messages are dead-lettered meanwhile", reason)
            raise BadSignature(reason) from None
        try:
            certificate = x509.load_pem_x509_certificate(body)
        except ValueError:
            raise BadSignature(f"{url_host(checked)} did not answer a PEM certificate") from None
        self._failures.pop(checked, None)
        self._certificates[checked] = certificate
        while len(self._certificates) > self._max_entries:
            self._certificates.popitem(last=False)
        return certificate


SIGNING_CERTIFICATES = SigningCertificates()


async def confirm_subscription(
    url: str,
    http_get: HttpGet = get_from_aws,
    *,
    webhook_id: str = "",
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
) -> bool:
    """GET a SubscribeURL, if it is https on an SNS host; True once AWS answered 2xx.

    Never raises; logs one line either way, naming the host and TopicArn, never the URL.
    """
    topic = _topic_arn(url)
    where = f" (webhook {webhook_id})" if webhook_id else ""
    checked = trusted_sns_url(url)
    if checked is None:
        log.warning(
            "AWS SNS subscription to %s not confirmed%s: its SubscribeURL (host %r) is not "
            "https on an sns.<region>.amazonaws.com host, so it was not fetched",
            topic, where, url_host(url),
        )  # fmt: skip
        return False
    try:
        await get_with_retries(checked, http_get, attempts, backoff)
    except SnsRequestFailed as error:
        log.error(
            "AWS SNS subscription to %s not confirmed%s: the GET to %s failed (%s); "
            "request the confirmation again from SNS to retry",
            topic, where, url_host(checked), error.reason,
        )  # fmt: skip
        return False
    log.info("AWS SNS subscription to %s confirmed%s via %s", topic, where, url_host(checked))
    return True


async def admit_delivery(
    webhook_id: str,
    options: Mapping[str, Any],
    data: Any,
    *,
    http_get: HttpGet = get_from_aws,
    certificates: CertificateSource = SIGNING_CERTIFICATES,
) -> bool:
    """Whether an `aws-sns` delivery goes on to the parser; False once it is handled here.

    verify_signature on → BadSignature unless the signature verifies. A
    SubscriptionConfirmation is then confirmed (confirm_subscription on) or logged with
    how to turn that on; either way it makes no event, so False.
    """
    if option_on(options, "verify_signature"):
        try:
            await verify_message(data, certificates)
        except (BadSignature, asyncio.CancelledError):
            raise
        except Exception as error:  # a bug here must not hold the partition either
            log.exception("AWS SNS signature verification failed (webhook %s)", webhook_id)
            raise BadSignature(f"verification failed: {type(error).__name__}") from error
    if not isinstance(data, Mapping) or data.get("Type") != "SubscriptionConfirmation":
        return True
    url = data.get("SubscribeURL")
    if option_on(options, "confirm_subscription"):
        await confirm_subscription(
            url if isinstance(url, str) else "", http_get, webhook_id=webhook_id
        )
    else:
        log.warning(
            "AWS SNS subscription to %s not confirmed (webhook %s): the webhook's option "
            "confirm_subscription is off. Turn it on with `eventpipe webhook update %s "
            "--options-json '{\"confirm_subscription\": true}'` or POST "
            "/monitoring/v1/webhook/update with options {\"confirm_subscription\": true} "
            "(options are replaced whole: keep the others), then request the "
            "confirmation again from SNS",
            _topic_of(data), webhook_id, webhook_id,
        )  # fmt: skip
    return False


async def get_with_retries(url: str, http_get: HttpGet, attempts: int, backoff: float) -> bytes:
    """`http_get(url)`, tried up to `attempts` times while the failure is retriable."""
    attempts = max(1, attempts)
    delays = Backoff(first=backoff)
    for attempt in range(1, attempts + 1):
        try:
            return await http_get(url)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failure = (
                error
                if isinstance(error, SnsRequestFailed)
                else SnsRequestFailed(type(error).__name__, retriable=True)
            )
        if not failure.retriable or attempt == attempts:
            break
        await delays.wait()
    raise SnsRequestFailed(
        f"{failure.reason}, after {attempt} attempt{'s' if attempt > 1 else ''}",
        retriable=failure.retriable,
    )


def _untrusted_certificate_url(url: object) -> BadSignature:
    return BadSignature(
        f"the SigningCertURL (host {url_host(url)!r}) is not an https "
        "sns.<region>.amazonaws.com URL of a .pem file"
    )


def _topic_of(message: Mapping[str, Any]) -> str:
    """The TopicArn of an SNS message, for log lines."""
    topic = message.get("TopicArn")
    if isinstance(topic, str) and topic:
        return topic[:256]
    return _topic_arn(message.get("SubscribeURL"))


def _topic_arn(url: object) -> str:
    """The TopicArn query parameter of a SubscribeURL, for log lines; '?' without one."""
    try:
        values = parse_qs(urlsplit(url).query).get("TopicArn") if isinstance(url, str) else None
    except ValueError:
        values = None
    return values[0][:256] if values else "?"
