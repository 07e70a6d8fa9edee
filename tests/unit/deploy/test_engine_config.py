"""The engines' configuration is pure text built from settings: check what it promises."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from deploy.engines import elasticsearch, kafka
from deploy.engines.jdk import java_major
from deploy.engines.process import PidFile
from schemas.settings import EngineSettings


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_kafka_binds_loopback_on_configured_ports(tmp_path: Path) -> None:
    engines = EngineSettings(cache_dir=tmp_path, kafka_port=19092, kafka_controller_port=19093)
    props = _properties(kafka.render_server_properties(engines, tmp_path / "data"))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path / "data")
    # One node: every internal topic must have replication factor 1 or the broker stalls.
    assert all(v == "1" for k, v in props.items() if k.endswith("replication.factor"))


def test_kafka_cluster_id_is_16_bytes_base64url() -> None:
    cluster_id = kafka.new_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert kafka.new_cluster_id() != cluster_id


def test_kafka_cluster_id_never_starts_with_a_dash() -> None:
    # About one id in 64 would; the storage tool then refused `--cluster-id -…` as an option.
    assert not any(kafka.new_cluster_id().startswith("-") for _ in range(2000))


def test_elasticsearch_is_single_loopback_node_with_security(tmp_path: Path) -> None:
    engines = EngineSettings(cache_dir=tmp_path, elasticsearch_port=19200)
    layout = elasticsearch.ElasticsearchLayout.of(engines)
    config = dict(
        line.split(": ", 1) for line in elasticsearch.render_config(engines, layout).splitlines()
    )
    assert config["network.host"] == "127.0.0.1"
    assert config["http.port"] == "19200"
    assert config["discovery.type"] == "single-node"
    assert config["xpack.security.enabled"] == "true"
    assert config["path.data"] == str(layout.data)


def test_elasticsearch_never_runs_as_root(tmp_path: Path) -> None:
    layout = elasticsearch.ElasticsearchLayout.of(EngineSettings(cache_dir=tmp_path))
    if os.geteuid() == 0:
        assert layout.user == "eventpipe"
        assert not str(layout.home).startswith(str(Path.home()))
    else:
        assert layout.user is None
        assert layout.home.is_relative_to(tmp_path)
    assert layout.password_file.is_relative_to(tmp_path)


@pytest.mark.parametrize(
    ("release", "major"),
    [
        ('IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="25.0.1"\n', 25),
        ('JAVA_VERSION="21"\n', 21),
        ('JAVA_VERSION="1.8.0_402"\n', 8),
        ("OS_NAME=Linux\n", None),
    ],
)
def test_java_major_reads_release_file(release: str, major: int | None) -> None:
    assert java_major(release) == major


def test_pid_file_trusts_only_the_process_it_recorded(tmp_path: Path) -> None:
    mine = PidFile(tmp_path / "a.pid", marker="pytest")
    mine.write(os.getpid())
    assert mine.running_pid() == os.getpid()

    # Same pid, but the command line is not the engine's: a recycled pid.
    stranger = PidFile(tmp_path / "b.pid", marker="kafka.Kafka /no/such/server.properties")
    stranger.write(os.getpid())
    assert stranger.running_pid() is None

    gone = PidFile(tmp_path / "c.pid", marker="pytest")
    gone.write(2**22 + 12345)  # above pid_max on Linux: never a live process
    assert gone.running_pid() is None
    assert PidFile(tmp_path / "missing.pid", marker="x").running_pid() is None


def test_secured_kafka_listens_sasl_ssl_beside_the_plain_one(tmp_path: Path) -> None:
    engines = EngineSettings(cache_dir=tmp_path)
    tls = kafka.SecureBroker(
        keystore=tmp_path / "k.pem", ca_file=tmp_path / "ca.crt", broker_user="broker",
        broker_password="b-pw", users={"eventpipe": "e-pw"},
    )  # fmt: skip
    props = _properties(kafka.render_secure_server_properties(engines, tmp_path / "d", tls))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["auto.create.topics.enable"] == "false"
    assert kafka.KafkaLayout.of(engines, secure=True).data != kafka.KafkaLayout.of(engines).data
    arguments = tls.scram_arguments()
    assert arguments.count("--add-scram") == 4  # two users, two mechanisms
    assert "SCRAM-SHA-512=[name=eventpipe,password=e-pw]" in arguments


def test_secured_elasticsearch_has_its_own_ports_config_and_https(tmp_path: Path) -> None:
    engines = EngineSettings(cache_dir=tmp_path)
    plain = elasticsearch.ElasticsearchLayout.of(engines)
    secure = elasticsearch.ElasticsearchLayout.of(engines, secure=True)
    assert {secure.data, secure.config, secure.home} & {
        plain.data,
        plain.config,
        plain.home,
    } == set()
    assert secure.url == "https://127.0.0.1:9201" and plain.url == "http://127.0.0.1:9200"
    config = dict(
        line.split(": ", 1) for line in elasticsearch.render_config(engines, secure).splitlines()
    )
    assert config["xpack.security.http.ssl.enabled"] == "true"
    assert config["http.port"] == "9201" and config["transport.port"] == "9301"
    assert elasticsearch.SECURE_NODE_FLAG in elasticsearch.command(secure)
