"""`eventpipe check`: connect with the configured settings and say what works and what not.

Per dependency, one line that works or fails, and for a failure what to change:
an address nobody answers at, a listener that speaks (or does not speak) TLS, a
certificate not signed by the configured CA or not naming the address, a rejected
user or API key, a SASL mechanism the broker does not offer, a missing topic,
missing Elasticsearch privileges. The classifiers are pure functions over the
error a client raised; the I/O is one function per dependency. No secret is ever
part of a finding. `eventpipe worker` and `eventpipe api` run the same check at
start and exit at once when a setting is wrong (`permanent`), since retrying would
never help; an unreachable dependency is left to their retries.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from ingest.elasticsearch.health import elasticsearch_health
from schemas.privileges import has_privileges_request, missing_privileges
from schemas.settings import ElasticsearchSettings, KafkaSettings, Settings
from schemas.topics import topic_specs

TIMEOUT = 10.0
EX_CONFIG = 78  # sysexits: a configuration error


@dataclass(frozen=True)
class Finding:
    """One dependency's state: a sentence a person can act on, never a secret."""

    dependency: str  # "kafka" | "elasticsearch"
    ok: bool
    summary: str
    advice: str = ""
    permanent: bool = False  # a setting is wrong: retrying cannot help
    degraded: bool = False  # works, but a broker or node is missing: one more fault stops it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- pure classifiers -------------------------------------------------------------------


def tls_problem(error: BaseException, endpoint: str, ca_setting: str, host_setting: str) -> str:
    """What a TLS error means for the user, or "" when it is no TLS error."""
    if isinstance(error, ssl.SSLCertVerificationError):
        message = str(getattr(error, "verify_message", None) or error)
        if "mismatch" in message:
            return (
                f"TLS name mismatch: the certificate at {endpoint} does not name that address "
                f"({message}); connect with a name the certificate holds ({host_setting}), or "
                "get a certificate for this name"
            )
        if "expired" in message:
            return f"the certificate at {endpoint} has expired ({message})"
        return (
            f"the certificate at {endpoint} is not signed by a trusted CA ({message}); set "
            f"{ca_setting} to the CA that signed it"
        )
    if isinstance(error, ssl.SSLError):
        reason = str(getattr(error, "reason", "") or error)
        if "WRONG_VERSION_NUMBER" in reason or "record layer" in reason.lower():
            return f"{endpoint} does not speak TLS ({reason}): it is a plain-text listener"
        return f"the TLS handshake with {endpoint} failed ({reason})"
    return ""


def kafka_connection_finding(
    error: BaseException, kafka: KafkaSettings, endpoint: str, speaks_tls: bool | None
) -> Finding:
    """A failed broker connection, explained (`speaks_tls`: what a TLS probe of the port found)."""
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    setting = "EVENTPIPE_KAFKA__"
    how = f"{kafka.security_protocol}" + (
        f", {kafka.sasl_mechanism} as {kafka.username}" if kafka.uses_sasl else ""
    )
    if isinstance(error, SaslAuthenticationFailed):
        return Finding("kafka", False, f"authentication failed at {endpoint} ({how})",
                       f"check {setting}USERNAME and {setting}PASSWORD (or PASSWORD_FILE), and "
                       f"that the user has {kafka.sasl_mechanism} credentials on the cluster",
                       permanent=True)  # fmt: skip
    if isinstance(error, UnsupportedSaslMechanismError):
        return Finding("kafka", False,
                       f"the broker at {endpoint} does not offer SASL {kafka.sasl_mechanism}",
                       f"set {setting}SASL_MECHANISM to one the cluster enables "
                       "(MSK: SCRAM-SHA-512, Confluent Cloud: PLAIN)", permanent=True)  # fmt: skip
    problem = tls_problem(error, endpoint, f"{setting}CA_FILE", f"{setting}BOOTSTRAP_SERVERS")
    if problem and "does not speak TLS" in problem:
        return Finding("kafka", False, problem,
                       f"set {setting}SECURITY_PROTOCOL to PLAINTEXT or SASL_PLAINTEXT, or use "
                       "the cluster's TLS port", permanent=True)  # fmt: skip
    if problem:
        return Finding("kafka", False, problem, permanent=True)
    if isinstance(error, (ConnectionRefusedError, TimeoutError)) or _refused(error):
        return Finding("kafka", False, f"nothing answers at {endpoint} ({_reason(error)})",
                       f"is the broker running, and {setting}BOOTSTRAP_SERVERS right?")  # fmt: skip
    if speaks_tls and not kafka.uses_tls:
        return Finding("kafka", False,
                       f"the listener at {endpoint} expects TLS, but the security protocol is "
                       f"{kafka.security_protocol}",
                       f"set {setting}SECURITY_PROTOCOL=SASL_SSL (or SSL) and {setting}CA_FILE",
                       permanent=True)  # fmt: skip
    if kafka.uses_tls and not kafka.uses_sasl and speaks_tls:
        return Finding("kafka", False,
                       f"the broker at {endpoint} closed the connection after TLS: the listener "
                       "wants SASL",
                       f"set {setting}SECURITY_PROTOCOL=SASL_SSL with a mechanism, user and "
                       "password", permanent=True)  # fmt: skip
    return Finding("kafka", False, f"the connection to {endpoint} failed ({how}): "
                   f"{_reason(error)}")  # fmt: skip


def elasticsearch_connection_finding(
    error: BaseException, es: ElasticsearchSettings, speaks_tls: bool | None = None
) -> Finding:
    """A failed Elasticsearch request, explained (`speaks_tls`: what a TLS probe found)."""
    from elasticsearch import AuthenticationException, AuthorizationException

    setting = "EVENTPIPE_ELASTICSEARCH__"
    endpoint = es.endpoint
    if isinstance(error, AuthenticationException):
        what = ("the API key" if es.api_key is not None
                else "the bearer token" if es.bearer_token is not None
                else f"user {es.username} and its password")  # fmt: skip
        return Finding("elasticsearch", False, f"authentication failed at {endpoint}: {what} "
                       "was rejected",
                       f"check {setting}API_KEY (id:key or encoded; or API_KEY_FILE), or "
                       f"{setting}USERNAME and PASSWORD; an API key may have expired or been "
                       "invalidated", permanent=True)  # fmt: skip
    if isinstance(error, AuthorizationException):
        return Finding("elasticsearch", False, f"not allowed at {endpoint}: {_reason(error)}",
                       "give the credentials the privileges listed in docs/settings.md "
                       "(Elasticsearch privileges)", permanent=True)  # fmt: skip
    cause = _tls_cause(error)
    if cause is not None:
        problem = tls_problem(cause, endpoint, f"{setting}CA_CERTS or CERT_FINGERPRINT",
                              f"{setting}URL")  # fmt: skip
        if "does not speak TLS" in problem:
            return Finding("elasticsearch", False, problem,
                           f"use http:// in {setting}URL", permanent=True)  # fmt: skip
        return Finding("elasticsearch", False, problem or _reason(error), permanent=True)
    text = _reason(error)
    if es.url.startswith("http://") and speaks_tls:
        return Finding("elasticsearch", False,
                       f"{endpoint} closed the connection: the node probably expects HTTPS",
                       f"use https:// in {setting}URL and set {setting}CA_CERTS",
                       permanent=True)  # fmt: skip
    return Finding("elasticsearch", False, f"nothing answers at {endpoint} ({text})",
                   f"is the node running, and {setting}URL (or CLOUD_ID) right?")  # fmt: skip


def privileges_finding(answer: dict[str, Any], who: str, endpoint: str) -> Finding | None:
    """A finding when a `_has_privileges` answer denies any privilege eventpipe needs."""
    missing = missing_privileges(answer)
    if not missing:
        return None
    return Finding("elasticsearch", False,
                   f"{who} at {endpoint} lacks privileges: {', '.join(missing)}",
                   "create the API key with the role in docs/settings.md (Elasticsearch "
                   "privileges), or add these privileges to the user's role",
                   permanent=True)  # fmt: skip


def _refused(error: BaseException) -> bool:
    text = str(error).lower()
    return "connect call failed" in text or "connection refused" in text


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _tls_cause(error: BaseException) -> ssl.SSLError | None:
    """The ssl error inside an Elasticsearch client error, if any."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        # aiohttp keeps the ssl error in an attribute of its own error
        inner = (getattr(current, name, None) for name in ("certificate_error", "os_error"))
        stack += [e for e in (current.__cause__, current.__context__, *inner)
                  if isinstance(e, BaseException)]  # fmt: skip
        stack += [e for e in getattr(current, "errors", ()) if isinstance(e, BaseException)]
    return None


# -- I/O --------------------------------------------------------------------------------


async def speaks_tls(host: str, port: int) -> bool | None:
    """Whether the port completes a TLS handshake (certificates unchecked); None: unreachable."""
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection(host, port, ssl=probe)
    except (ssl.SSLError, ConnectionResetError, EOFError):
        return False  # it answered, but not with TLS
    except (OSError, TimeoutError):
        return None
    writer.close()
    return True


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    return host.strip("[]"), int(port)


async def check_kafka(settings: Settings) -> list[Finding]:
    """Connect to the first bootstrap server as the clients do, then look at the topics."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    from ingest.kafka.health import kafka_health, partitions_described
    from ingest.kafka.topics import describe, layout_differences, wanted_topics

    kafka = settings.kafka
    options = {k: v for k, v in kafka.client_options().items() if k != "bootstrap_servers"}
    servers = [server.strip() for server in kafka.bootstrap_servers.split(",") if server.strip()]
    failures: list[tuple[str, BaseException]] = []
    for endpoint in servers:  # the first that answers; a dead broker of a cluster is no failure
        host, port = _host_port(endpoint)
        try:
            async with asyncio.timeout(TIMEOUT):
                conn = await create_conn(host, port, request_timeout_ms=5000, **options)
                try:  # a listener that wants SASL closes the connection only at the first request
                    await conn.send(MetadataRequest([]))
                finally:
                    conn.close()
            break
        except Exception as error:
            failures.append((endpoint, error))
    if len(failures) == len(servers):
        endpoint, error = failures[0]
        probe = await speaks_tls(*_host_port(endpoint))
        return [kafka_connection_finding(error, kafka, endpoint, probe)]

    from aiokafka.errors import KafkaError

    findings = []
    wanted = wanted_topics(settings)
    names = list(wanted)

    async def read_topics() -> tuple[dict[str, Any], Any]:
        admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=5000)
        try:
            await admin.start()
            found = await describe(admin, names)
            if not found:
                return found, None
            brokers = [b["node_id"] for b in (await admin.describe_cluster())["brokers"]]
            described = partitions_described(await admin.describe_topics(list(found)))
            return found, kafka_health(described, brokers, settings.topics.min_insync_replicas)
        finally:
            await admin.close()

    try:
        async with asyncio.timeout(TIMEOUT * 2):
            for attempt in range(8):
                try:
                    found, health = await read_topics()
                    break
                except KafkaError as error:
                    # A broker that died moments ago stays in the metadata until the
                    # cluster fences it (seconds): ask again, with fresh metadata.
                    if not error.retriable or attempt == 7:
                        raise
                    await asyncio.sleep(2)
    except Exception as error:
        return [Finding("kafka", False, f"connected to {endpoint}, but reading the topics "
                        f"failed: {_reason(error)}",
                        "the user needs Describe on the cluster and the topics")]  # fmt: skip
    how = kafka.security_protocol + (
        f", {kafka.sasl_mechanism} as {kafka.username}" if kafka.uses_sasl else ""
    )
    findings.append(Finding("kafka", True, f"connected to {endpoint} ({how})"))
    missing = [name for name in names if name not in found]
    if missing:
        layout = wanted[missing[0]][0]
        single = " and ".join(s.name for s in topic_specs(settings) if s.single_partition)
        findings.append(Finding("kafka", False, f"topic missing: {', '.join(missing)}",
                                "`eventpipe worker` creates them at start (it needs the Create "
                                f"permission); or create them with {settings.topics.partitions} "
                                f"partitions ({single}: 1, compacted), "
                                f"replication factor {layout.replication_factor}, "
                                f"min.insync.replicas={layout.min_insync_replicas}"))  # fmt: skip
    for name, layout in found.items():
        wanted_layout = wanted[name][0]
        for note in layout_differences(name, wanted_layout, layout):
            # Fewer replicas than asked: one broker's death stops the topic.
            short = layout.replication_factor < wanted_layout.replication_factor
            findings.append(Finding("kafka", not short, note))
    if health is not None and health.problems:
        findings.append(Finding("kafka", True, "cluster degraded: " + "; ".join(health.problems),
                                "restart the missing brokers; partitions catch up on their own",
                                degraded=True))  # fmt: skip
    return findings


async def check_elasticsearch(settings: Settings) -> list[Finding]:
    """Authenticate as the clients do, then ask whether the needed privileges are held."""
    from elasticsearch import (
        ApiError,
        AsyncElasticsearch,
        AuthenticationException,
        AuthorizationException,
    )

    es_settings = settings.elasticsearch
    # One try per node: a dead node of a cluster is a degraded cluster, not a failed check.
    retries = len(es_settings.hosts) - 1 if not es_settings.cloud_id else 0
    options = {**es_settings.client_options(), "request_timeout": 5.0, "max_retries": retries}
    endpoint = es_settings.endpoint
    try:
        es = AsyncElasticsearch(**options)
    except ValueError as error:  # e.g. a CA file with an http:// URL
        return [Finding("elasticsearch", False, f"the settings for {endpoint} do not fit: "
                        f"{error}", "use https:// with CA_CERTS or CERT_FINGERPRINT",
                        permanent=True)]  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT):
            try:
                me = await es.security.authenticate()
            except (AuthenticationException, AuthorizationException):
                raise
            except ApiError as error:
                if "security" not in str(error).lower():
                    raise
                # Security off: nothing to authenticate or authorize.
                await es.cluster.health()
                return [Finding("elasticsearch", True, f"connected to {endpoint} (security off)")]
            answer = await es.security.has_privileges(**has_privileges_request(settings.indices))
            key = me.get("api_key") or {}
            who = (
                f"API key {key.get('name') or key.get('id')}"
                if key
                else f"user {me.get('username')}"
            )
            # Missing privileges first: without `monitor` the health request itself is refused.
            lacking = privileges_finding(dict(answer), who, endpoint)
            if lacking is not None:
                return [lacking]
            cluster = dict(await es.cluster.health())
    except Exception as error:
        probe = None
        if not es_settings.cloud_id and es_settings.hosts[0].startswith("http://"):
            url = urlsplit(es_settings.hosts[0])
            probe = await speaks_tls(url.hostname or "127.0.0.1", url.port or 9200)
        return [elasticsearch_connection_finding(error, es_settings, probe)]
    finally:
        await es.close()
    connected = f"connected to {endpoint} as {who}, privileges held"
    findings = [Finding("elasticsearch", True, connected)]
    hosts = es_settings.hosts
    health = elasticsearch_health(cluster, len(hosts) if len(hosts) > 1 else 0)
    if health.problems:
        findings.append(Finding("elasticsearch", True,
                                "cluster degraded: " + "; ".join(health.problems),
                                "restart the missing nodes; replicas are rebuilt on their own",
                                degraded=True))  # fmt: skip
    return findings


async def check(settings: Settings) -> list[Finding]:
    # aiokafka logs each failed connection; the findings say it better, once.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        kafka, es = await asyncio.gather(check_kafka(settings), check_elasticsearch(settings))
    finally:
        client_log.setLevel(level)
    return [*kafka, *es]


def render(findings: list[Finding]) -> str:
    lines = []
    for finding in findings:
        state = "degraded" if finding.ok and finding.degraded else "ok" if finding.ok else "FAILED"
        lines.append(f"{finding.dependency:<14} {state:<7} {finding.summary}")
        if finding.advice:
            lines.append(f"{'':<22} -> {finding.advice}")
    return "\n".join(lines)


def wrong_settings(settings: Settings) -> list[Finding]:
    """The findings that mean a setting is wrong: a service must not start with them."""
    return [finding for finding in asyncio.run(check(settings)) if finding.permanent]
