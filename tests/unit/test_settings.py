"""Settings come from EVENTPIPE_* variables and default to the local engines."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.kafka.faust_runtime import broker_options
from schemas.settings import Settings, describe_invalid


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the variables it sets, not the caller's EVENTPIPE_*."""
    import os

    for name in [n for n in os.environ if n.startswith("EVENTPIPE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA certificate in PEM, made on the spot."""
    from deploy.engines.certificates import new_ca

    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_bytes(new_ca("eventpipe test CA").certificate_pem)
    return path


def test_defaults_match_local_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTPIPE_ENGINES__CACHE_DIR", str(tmp_path))
    settings = Settings()
    assert settings.kafka.bootstrap_servers == f"127.0.0.1:{settings.engines.kafka_port}"
    assert settings.elasticsearch.url == f"http://127.0.0.1:{settings.engines.elasticsearch_port}"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8000)
    assert settings.elasticsearch.password is None
    assert "basic_auth" not in settings.elasticsearch.client_options()


def test_nested_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS", "broker:29092")
    monkeypatch.setenv("EVENTPIPE_TOPICS__RAW", "custom.raw")
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__PASSWORD", "s3cret")
    monkeypatch.setenv("EVENTPIPE_API__PORT", "9000")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "broker:29092"
    assert settings.topics.raw == "custom.raw"
    assert settings.topics.normalized == "events.normalized"
    assert settings.api.port == 9000
    assert settings.elasticsearch.client_options()["basic_auth"] == ("elastic", "s3cret")


def test_local_node_password_is_picked_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTPIPE_ENGINES__CACHE_DIR", str(tmp_path))
    secret = tmp_path / "elasticsearch" / "elastic-password"
    secret.parent.mkdir()
    secret.write_text("generated-pw\n")
    assert Settings().elasticsearch.client_options()["basic_auth"] == ("elastic", "generated-pw")


def test_bad_values_fail_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_TOPICS__PARTITIONS", "0")
    with pytest.raises(ValueError, match="partitions"):
        Settings()


def test_kafka_defaults_are_plaintext_without_credentials() -> None:
    kafka = Settings().kafka
    options = kafka.client_options()
    assert options["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in options and "sasl_plain_password" not in options
    assert broker_options(kafka) == {"broker": "kafka://127.0.0.1:9092"}


def test_kafka_sasl_ssl_from_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS", "b-1.msk:9096, b-2.msk:9096")
    monkeypatch.setenv("EVENTPIPE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EVENTPIPE_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("EVENTPIPE_KAFKA__USERNAME", "eventpipe")
    monkeypatch.setenv("EVENTPIPE_KAFKA__PASSWORD", "kafka-pw")
    kafka = Settings().kafka
    options = kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "eventpipe",
        "kafka-pw",
    )
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    faust_options = broker_options(kafka)
    assert faust_options["broker"] == "kafka://b-1.msk:9096;kafka://b-2.msk:9096"
    credentials = faust_options["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "kafka-pw" not in repr(credentials)


def test_kafka_secret_from_file_and_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, test_ca: Path
) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    monkeypatch.setenv("EVENTPIPE_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EVENTPIPE_KAFKA__USERNAME", "u")
    monkeypatch.setenv("EVENTPIPE_KAFKA__PASSWORD_FILE", str(tmp_path / "pw"))
    kafka = Settings().kafka
    assert kafka.client_options()["sasl_plain_password"] == "from-file"
    assert "ssl_context" not in kafka.client_options()  # SASL without TLS
    assert broker_options(kafka)["broker_credentials"].protocol.value == "SASL_PLAINTEXT"

    monkeypatch.setenv("EVENTPIPE_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("EVENTPIPE_KAFKA__CA_FILE", str(test_ca))
    monkeypatch.setenv("EVENTPIPE_KAFKA__CHECK_HOSTNAME", "false")
    kafka = Settings().kafka
    context = kafka.client_options()["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert any("eventpipe test CA" in str(ca["subject"]) for ca in context.get_ca_certs())
    assert broker_options(kafka)["broker_credentials"].protocol.value == "SSL"


BAD_SETTINGS = [
    ({"KAFKA__SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA__USERNAME", "needs a username"),
    ({"KAFKA__SECURITY_PROTOCOL": "SASL_SSL", "KAFKA__USERNAME": "u"}, "KAFKA__PASSWORD",
     "needs a password"),
    ({"KAFKA__SECURITY_PROTOCOL": "TLS"}, "KAFKA__SECURITY_PROTOCOL", "Input should be"),
    ({"KAFKA__SASL_MECHANISM": "GSSAPI"}, "KAFKA__SASL_MECHANISM", "Input should be"),
    ({"KAFKA__PASSWORD": "p", "KAFKA__PASSWORD_FILE": "/etc/hostname"}, "KAFKA__PASSWORD_FILE",
     "both set"),
    ({"KAFKA__PASSWORD_FILE": "/nonexistent/pw"}, "KAFKA__PASSWORD_FILE", "cannot be read"),
    ({"KAFKA__KEY_FILE": "/k.pem"}, "KAFKA__CERT_FILE", "without cert_file"),
    ({"TOPICS__REPLICATION_FACTOR": "1", "TOPICS__MIN_INSYNC_REPLICAS": "2"},
     "TOPICS__MIN_INSYNC_REPLICAS", "exceeds"),
    ({"API__PORT": "eighty"}, "API__PORT", "valid integer"),
]  # fmt: skip


@pytest.mark.parametrize(("variables", "variable", "message"), BAD_SETTINGS)
def test_bad_settings_fail_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], variable: str, message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"EVENTPIPE_{name}", value)
    with pytest.raises(ValidationError, match=message) as raised:
        Settings()
    line = describe_invalid(raised.value)
    assert line.startswith(f"EVENTPIPE_{variable}: ") and message in line
    assert "\n" not in line


def test_validation_errors_never_show_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPIPE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EVENTPIPE_KAFKA__PASSWORD", "leaky-kafka-pw")
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__API_KEY", "leaky-es-key")
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__REQUEST_TIMEOUT", "soon")
    with pytest.raises(ValueError) as caught:
        Settings()
    assert "leaky" not in str(caught.value)


def test_topic_replication_defaults_to_one_broker() -> None:
    topics = Settings().topics
    assert (topics.replication_factor, topics.min_insync_replicas) == (1, 1)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"API_KEY": "key-id:key-secret"}, {"api_key": ("key-id", "key-secret")}),
        ({"API_KEY": "a2V5LWlkOmtleS1zZWNyZXQ="}, {"api_key": "a2V5LWlkOmtleS1zZWNyZXQ="}),
        ({"BEARER_TOKEN": "tok"}, {"bearer_auth": "tok"}),
        ({"PASSWORD": "pw", "USERNAME": "ingest"}, {"basic_auth": ("ingest", "pw")}),
        # An API key wins over a password: the local node's password is not even read.
        ({"API_KEY": "i:k", "PASSWORD": "pw"}, {"api_key": ("i", "k")}),
    ],
)
def test_elasticsearch_authentication(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: dict[str, object]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"EVENTPIPE_ELASTICSEARCH__{name}", value)
    options = Settings().elasticsearch.client_options()
    auth = {k: v for k, v in options.items() if k in ("api_key", "bearer_auth", "basic_auth")}
    assert auth == expected


def test_elasticsearch_cloud_id_tls_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("id:secret\n")
    cloud_id = "prod:ZXUtd2VzdC0xLmF3cy5mb3VuZC5pbyRhYmMkZGVm"
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__CLOUD_ID", cloud_id)
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__API_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("EVENTPIPE_ELASTICSEARCH__CERT_FINGERPRINT", "AB:CD")
    es = Settings().elasticsearch
    options = es.client_options()
    assert options["cloud_id"] == cloud_id and "hosts" not in options
    assert options["api_key"] == ("id", "secret")
    assert options["ssl_assert_fingerprint"] == "AB:CD"
    assert "verify_certs" not in options  # verification stays on unless turned off
    assert es.endpoint == "Elastic Cloud prod"


def test_signing_secret_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "signing").write_text("s1gn\n")
    monkeypatch.setenv("EVENTPIPE_INGEST__SIGNING_SECRET_FILE", str(tmp_path / "signing"))
    secret = Settings().ingest.signing_secret
    assert secret is not None and secret.get_secret_value() == "s1gn"


def test_kafka_mutual_tls_loads_the_client_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from deploy.engines.certificates import ensure_certificates

    files = ensure_certificates(tmp_path)
    monkeypatch.setenv("EVENTPIPE_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("EVENTPIPE_KAFKA__CA_FILE", str(files.ca_certificate))
    monkeypatch.setenv("EVENTPIPE_KAFKA__CERT_FILE", str(files.server_certificate))
    monkeypatch.setenv("EVENTPIPE_KAFKA__KEY_FILE", str(files.server_key))
    context = Settings().kafka.client_options()["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    monkeypatch.setenv("EVENTPIPE_KAFKA__KEY_FILE", str(files.ca_certificate))  # not a key
    with pytest.raises(ssl.SSLError):
        Settings().kafka.client_options()
