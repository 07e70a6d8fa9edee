"""The local Apache Kafka broker: KRaft combined mode, one node, loopback only.

Runs straight from the official jars (resolved by Maven from
`deploy/maven/kafka-pom.xml`) with `java -cp libs/* kafka.Kafka`. The secured
variant (`engines up --secure`) is a second broker with its own ports and data: one
SASL_SSL listener (SCRAM-SHA-256 and -512, users written when the storage is
formatted) presenting a certificate of the project's local CA.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from deploy.engines.errors import EngineError
from deploy.engines.maven import copy_dependencies
from deploy.engines.process import PidFile
from schemas.settings import EngineSettings, KafkaSettings

MAIN_CLASS = "kafka.Kafka"


@dataclass(frozen=True)
class KafkaLayout:
    """Where the broker's jars, config, data, log and pid file live in the cache."""

    libs: Path
    config: Path
    data: Path
    log: Path
    pid_file: PidFile

    @classmethod
    def of(cls, engines: EngineSettings, secure: bool = False) -> KafkaLayout:
        home = engines.cache_dir / ("kafka-secure" if secure else "kafka")
        config = home / "config"
        return cls(
            libs=engines.cache_dir / f"kafka-{engines.kafka_version}" / "libs",
            config=config,
            data=home / "data",
            log=home / "logs" / "kafka.log",
            pid_file=PidFile(home / "kafka.pid", marker=str(config / "server.properties")),
        )


def broker_properties(
    node_id: int, port: int, controller: int, data_dir: Path, replicas: int = 1, min_isr: int = 1
) -> dict[str, str]:
    """What every KRaft broker+controller eventpipe runs has: bound to 127.0.0.1, plaintext
    inside the machine, Kafka's own topics replicated `replicas` times (the quorum is the
    caller's: one node bootstraps itself, a cluster names its voters)."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    }


def render_properties(lines: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def render_server_properties(engines: EngineSettings, data_dir: Path) -> str:
    """A single-node KRaft broker+controller bound to 127.0.0.1, replication 1 everywhere."""
    port, controller = engines.kafka_port, engines.kafka_controller_port
    lines = broker_properties(1, port, controller, data_dir)
    lines["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{controller}"
    return render_properties(lines)


def render_secure_server_properties(
    engines: EngineSettings, data_dir: Path, tls: SecureBroker
) -> str:
    """The secured broker: SASL_SSL for clients and between brokers, SCRAM users, PEM files."""
    port, controller = engines.secure_kafka_port, engines.secure_kafka_controller_port
    plain = engines.model_copy(update={"kafka_port": port, "kafka_controller_port": controller})
    lines = dict(line.split("=", 1) for line in render_server_properties(plain, data_dir).split())
    login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{tls.broker_user}" password="{tls.broker_password}";'
    )
    lines.update({
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": login,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": login,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca_file),
        "ssl.client.auth": "none",
        # Clients must name the topics the settings declare: none made by accident.
        "auto.create.topics.enable": "false",
    })  # fmt: skip
    return "".join(f"{key}={value}\n" for key, value in lines.items())


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class SecureBroker:
    """What the secured broker needs: its PEM key store, the CA, and the SCRAM users."""

    keystore: Path  # the server key and certificate chain, PEM
    ca_file: Path
    broker_user: str
    broker_password: str
    users: dict[str, str]  # client users: name -> password

    def passwords(self) -> list[str]:
        return [self.broker_password, *self.users.values()]

    def scram_arguments(self) -> list[str]:
        """`kafka-storage format --add-scram ...` for every user and mechanism."""
        users = {self.broker_user: self.broker_password, **self.users}
        return [
            argument
            for name, password in users.items()
            for mechanism in SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]


LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never starting
    with "-" (the storage tool would read it as an option: one fresh `up` in 64 failed),
    as Kafka's own `Uuid.randomUuid` draws again."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def fetch(engines: EngineSettings, layout: KafkaLayout) -> None:
    """Resolve the broker's jars into the cache unless they are there already."""
    if layout.libs.is_dir() and any(layout.libs.glob("kafka_2.13-*.jar")):
        return
    print(f"fetching Apache Kafka {engines.kafka_version} jars (about 45 MB, first run only)")
    staging = layout.libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with as_file(files("deploy") / "maven" / "kafka-pom.xml") as pom:
        local_pom = layout.libs.parent / "pom.xml"
        local_pom.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pom, local_pom)
    copy_dependencies(
        local_pom,
        dest=staging,
        cache_dir=engines.cache_dir,
        properties={"kafka.version": engines.kafka_version},
    )
    staging.rename(layout.libs)


def configure(
    engines: EngineSettings,
    layout: KafkaLayout,
    java_home: Path,
    secure: SecureBroker | None = None,
    *,
    cluster: tuple[str, str] | None = None,
) -> None:
    """Write the config and format the storage on first start (with the SCRAM users).

    `cluster`: (server.properties, cluster id) of a node of a multi-node cluster, whose
    controllers are listed in its properties (a static quorum: no `--standalone`).
    """
    layout.config.mkdir(parents=True, exist_ok=True)
    properties = layout.config / "server.properties"
    properties.touch(mode=0o600)  # the secured broker's holds its own password
    if cluster is not None:
        properties.write_text(cluster[0])
    elif secure is None:
        properties.write_text(render_server_properties(engines, layout.data))
    else:
        properties.write_text(render_secure_server_properties(engines, layout.data, secure))
    (layout.config / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    if (layout.data / "meta.properties").exists():
        return
    layout.data.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            str(java_home / "bin" / "java"),
            f"-Dlog4j2.configurationFile={layout.config / 'log4j2.properties'}",
            "-cp",
            f"{layout.libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster[1] if cluster else new_cluster_id(),
            "--config",
            str(layout.config / "server.properties"),
            *([] if cluster else ["--standalone"]),
            *(secure.scram_arguments() if secure else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        for password in secure.passwords() if secure else []:
            output = output.replace(password, "****")
        raise EngineError(f"formatting Kafka storage failed:\n{output}")


def command(
    engines: EngineSettings, layout: KafkaLayout, java_home: Path, heap: str | None = None
) -> list[str]:
    heap = heap or engines.kafka_heap
    return [
        str(java_home / "bin" / "java"),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.config / 'log4j2.properties'}",
        "-cp",
        f"{layout.libs}/*",
        MAIN_CLASS,
        str(layout.config / "server.properties"),
    ]


async def _answers(client: KafkaSettings) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(**client.client_options(), request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


def is_healthy(engines: EngineSettings, client: KafkaSettings | None = None) -> bool:
    """True when the broker answers a real metadata request (made with `client`'s settings)."""
    # aiokafka logs every refused connection; while polling a starting broker that is noise.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        plain = KafkaSettings(bootstrap_servers=f"127.0.0.1:{engines.kafka_port}")
        return asyncio.run(_answers(client or plain))
    finally:
        client_log.setLevel(level)
