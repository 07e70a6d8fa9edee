"""`eventpipe check` turns a client's error into a sentence naming the setting to change."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import AuthenticationException

from deploy.check import (
    elasticsearch_connection_finding,
    kafka_connection_finding,
    privileges_finding,
    render,
    speaks_tls,
    tls_problem,
)
from deploy.engines.certificates import new_ca, new_server_certificate
from schemas.privileges import has_privileges_request, role_descriptor
from schemas.settings import ElasticsearchSettings, IndexSettings, KafkaSettings

SASL_SSL = KafkaSettings(
    bootstrap_servers="b-1:9096", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
    username="eventpipe", password="kafka-secret-pw",
)  # fmt: skip
PLAIN = KafkaSettings(bootstrap_servers="b-1:9096")


async def _tls_error(
    tmp_path: Path, server_names: tuple[str, ...], trust_ca: bool
) -> BaseException:
    """A real handshake against a loopback TLS server with a certificate for `server_names`."""
    ca = new_ca("unit CA")
    server = new_server_certificate(ca, "unit", dns_names=server_names, ip_addresses=())
    (tmp_path / "s.crt").write_bytes(server.certificate_pem)
    (tmp_path / "s.key").write_bytes(server.key_pem)
    (tmp_path / "ca.crt").write_bytes(
        ca.certificate_pem if trust_ca else new_ca("x").certificate_pem
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    served = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)
    port = served.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    try:
        await asyncio.open_connection("127.0.0.1", port, ssl=client)
    except ssl.SSLError as error:
        return error
    finally:
        served.close()
    raise AssertionError("the handshake should have failed")


async def test_name_mismatch_is_named(tmp_path: Path) -> None:
    error = await _tls_error(tmp_path, ("kafka.internal",), trust_ca=True)
    finding = kafka_connection_finding(error, SASL_SSL, "127.0.0.1:9096", speaks_tls=True)
    assert finding.summary.startswith("TLS name mismatch") and finding.permanent
    assert "BOOTSTRAP_SERVERS" in finding.summary


async def test_untrusted_ca_points_at_the_ca_setting(tmp_path: Path) -> None:
    error = await _tls_error(tmp_path, ("localhost",), trust_ca=False)
    text = tls_problem(error, "es:9200", "EVENTPIPE_ELASTICSEARCH__CA_CERTS", "URL")
    assert "not signed by a trusted CA" in text and "EVENTPIPE_ELASTICSEARCH__CA_CERTS" in text


async def test_tls_probe_tells_tls_from_plain_text(tmp_path: Path) -> None:
    plain = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    try:
        assert await speaks_tls("127.0.0.1", plain.sockets[0].getsockname()[1]) is False
    finally:
        plain.close()
    assert await speaks_tls("127.0.0.1", 1) is None  # nothing listens


@pytest.mark.parametrize(
    ("error", "settings", "probe", "words", "permanent"),
    [
        (SaslAuthenticationFailed(), SASL_SSL, True, "authentication failed", True),
        (UnsupportedSaslMechanismError(), SASL_SSL, True, "does not offer SASL SCRAM-SHA-512",
         True),
        (ConnectionRefusedError(111, "Connect call failed"), SASL_SSL, None, "nothing answers",
         False),
        (ConnectionError("closed"), PLAIN, True, "expects TLS", True),
        (ConnectionError("closed"), SASL_SSL.model_copy(update={"security_protocol": "SSL"}),
         True, "wants SASL", True),
    ],
)  # fmt: skip
def test_kafka_failures(
    error: BaseException, settings: KafkaSettings, probe: bool | None, words: str, permanent: bool
) -> None:
    finding = kafka_connection_finding(error, settings, "b-1:9096", probe)
    assert words in finding.summary and finding.permanent is permanent
    assert "kafka-secret-pw" not in render([finding])


def test_elasticsearch_rejected_key_and_https_expected() -> None:
    meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.01, NodeConfig("https", "es", 443))
    rejected = AuthenticationException(message="security_exception", meta=meta, body={})
    es = ElasticsearchSettings(url="https://es:443", api_key="id:es-secret-key")
    finding = elasticsearch_connection_finding(rejected, es)
    assert "the API key was rejected" in finding.summary and finding.permanent
    assert "es-secret-key" not in render([finding])
    plain = ElasticsearchSettings(url="http://es:9200")
    finding = elasticsearch_connection_finding(ConnectionError("reset"), plain, speaks_tls=True)
    assert "expects HTTPS" in finding.summary and "https://" in finding.advice


def test_missing_privileges_are_listed() -> None:
    answer = {
        "cluster": {"monitor": True, "manage_index_templates": False},
        "index": {"eventpipe-alerts": {"manage": True, "read": True, "write": False}},
    }
    finding = privileges_finding(answer, "API key ro", "https://es")
    assert finding is not None and finding.permanent
    assert "cluster:manage_index_templates, index eventpipe-alerts:write" in finding.summary
    held = {"cluster": {"monitor": True}, "index": {"x": {"read": True}}}
    assert privileges_finding(held, "user u", "https://es") is None


def test_the_role_and_the_check_ask_for_the_same_privileges() -> None:
    indices = IndexSettings()
    role, asked = role_descriptor(indices), has_privileges_request(indices)
    assert role["cluster"] == asked["cluster"] == ["monitor", "manage_index_templates"]
    names = ["eventpipe-events*", "eventpipe-alerts", "eventpipe-notes", "eventpipe-alert-numbers",
             "eventpipe-apikeys", "eventpipe-webhooks", "eventpipe-event-rules"]  # fmt: skip
    assert role["indices"][0]["names"] == asked["index"][0]["names"] == names
    assert role["indices"][0]["privileges"] == asked["index"][0]["privileges"]
