"""`eventpipe engines up | down | status`: the local Kafka broker and Elasticsearch node.

`up` is idempotent (a running engine is reused), waits for both to answer, and on
failure says what failed and where its log is. `down` stops only what `up`
started, found through its pid file.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.engines import elasticsearch, kafka
from deploy.engines import secure as secure_engines
from deploy.engines.certificates import ensure_certificates
from deploy.engines.errors import EngineError
from deploy.engines.jdk import find_java_home
from deploy.engines.process import PidFile, spawn, stop, tail
from schemas.settings import EngineSettings, KafkaSettings


@dataclass(frozen=True)
class EngineStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    endpoint: str
    version: str
    log: str


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(
    name: str, healthy: Callable[[], bool], pid_file: PidFile, log: str, timeout: float
) -> float:
    """Poll until healthy; fail early if the process died. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if healthy():
            return time.monotonic() - start
        if pid_file.running_pid() is None:
            raise EngineError(f"{name} exited during start-up; its log is {log}:\n{tail_of(log)}")
        time.sleep(0.5)
    raise EngineError(
        f"{name} did not answer within {timeout:.0f} s; its log is {log}:\n{tail_of(log)}"
    )


def tail_of(log: str) -> str:
    from pathlib import Path

    return tail(Path(log))


def _kafka_client(engines: EngineSettings, secure: bool) -> KafkaSettings | None:
    """How to reach the broker: None for the plain one, SASL_SSL for the secured one."""
    return secure_engines.kafka_settings(engines) if secure else None


def kafka_up(engines: EngineSettings, secure: bool = False) -> str:
    layout = kafka.KafkaLayout.of(engines, secure)
    tls = secure_engines.secure_broker(engines) if secure else None
    client = _kafka_client(engines, secure)
    port = engines.secure_kafka_port if secure else engines.kafka_port
    if layout.pid_file.running_pid() is not None and kafka.is_healthy(engines, client):
        return "already running"
    if layout.pid_file.running_pid() is None and _port_taken(port):
        variable = "SECURE_KAFKA_PORT" if secure else "KAFKA_PORT"
        raise EngineError(
            f"port {port} is taken by a process eventpipe did not start; "
            f"stop it or set EVENTPIPE_ENGINES__{variable} and EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS"
        )
    t0 = time.monotonic()
    kafka.fetch(engines, layout)
    fetched = time.monotonic() - t0
    if layout.pid_file.running_pid() is None:
        java_home = find_java_home(engines.java_home)
        kafka.configure(engines, layout, java_home, tls)
        heap = engines.secure_kafka_heap if secure else engines.kafka_heap
        proc = spawn(
            kafka.command(engines, layout, java_home, heap),
            log_path=layout.log,
            env={"PATH": "/usr/bin:/bin"},
            cwd=layout.config,
        )
        layout.pid_file.write(proc.pid)
    waited = _wait(
        "Kafka", lambda: kafka.is_healthy(engines, client), layout.pid_file, str(layout.log),
        engines.start_timeout,
    )  # fmt: skip
    return f"started in {waited:.1f} s" + (f" (fetched in {fetched:.1f} s)" if fetched > 1 else "")


def elasticsearch_up(engines: EngineSettings, secure: bool = False) -> str:
    layout = elasticsearch.ElasticsearchLayout.of(engines, secure)
    password = layout.password_file.read_text().strip() if layout.password_file.is_file() else None
    running = layout.pid_file.running_pid() is not None
    if running and elasticsearch.health(layout, password) in ("green", "yellow"):
        return "already running"
    if not running and _port_taken(layout.port):
        variable = "SECURE_ELASTICSEARCH_PORT" if secure else "ELASTICSEARCH_PORT"
        raise EngineError(
            f"port {layout.port} is taken by a process eventpipe did not start; "
            f"stop it or set EVENTPIPE_ENGINES__{variable} and EVENTPIPE_ELASTICSEARCH__URL"
        )
    t0 = time.monotonic()
    elasticsearch.ensure_user(layout)
    elasticsearch.fetch(engines, elasticsearch.ElasticsearchLayout.of(engines))
    fetched = time.monotonic() - t0
    if not running:
        java_home = find_java_home(engines.java_home)
        if secure:
            elasticsearch.prepare_secure_home(engines, layout, java_home)
        certificates = (
            ensure_certificates(secure_engines.SecureFiles.of(engines).certificates.directory)
            if secure
            else None
        )
        password = elasticsearch.configure(engines, layout, java_home, certificates)
        proc = spawn(
            elasticsearch.command(layout),
            log_path=layout.launcher_log,
            env=elasticsearch.environment(layout, java_home),
            cwd=layout.home,
            user=layout.user,
        )
        layout.pid_file.write(proc.pid)
    waited = _wait(
        "Elasticsearch",
        lambda: elasticsearch.health(layout, password) in ("green", "yellow"),
        layout.pid_file,
        str(layout.launcher_log),
        engines.start_timeout,
    )
    return f"started in {waited:.1f} s" + (f" (fetched in {fetched:.1f} s)" if fetched > 1 else "")


def up(engines: EngineSettings, report: Callable[[str], None] = print) -> None:
    """Start both engines (or reuse running ones) and wait until they answer."""
    report(f"kafka {engines.kafka_version}: {kafka_up(engines)}")
    report(f"elasticsearch {engines.elasticsearch_version}: {elasticsearch_up(engines)}")


def secure_up(engines: EngineSettings, report: Callable[[str], None] = print) -> Path:
    """Start the secured engines beside the plain ones; return the file of their settings."""
    report(f"kafka {engines.kafka_version} (SASL_SSL): {kafka_up(engines, secure=True)}")
    done = elasticsearch_up(engines, secure=True)
    report(f"elasticsearch {engines.elasticsearch_version} (HTTPS): {done}")
    layout = elasticsearch.ElasticsearchLayout.of(engines, secure=True)
    password = layout.password_file.read_text().strip()
    secure_engines.ensure_api_key(engines, layout.url, password)
    return secure_engines.write_env_file(engines)


def down(
    engines: EngineSettings, report: Callable[[str], None] = print, secure: bool = False
) -> None:
    """Stop the engines `up` (or `up --secure`) started; anything else is left alone."""
    for name, pid_file in (
        ("elasticsearch", elasticsearch.ElasticsearchLayout.of(engines, secure).pid_file),
        ("kafka", kafka.KafkaLayout.of(engines, secure).pid_file),
    ):
        pid = pid_file.running_pid()
        if pid is None:
            pid_file.remove()
            report(f"{name}: not running")
            continue
        t0 = time.monotonic()
        graceful = stop(pid)
        pid_file.remove()
        how = "stopped" if graceful else "killed after the grace period"
        report(f"{name}: {how} in {time.monotonic() - t0:.1f} s")


def status(engines: EngineSettings, secure: bool = False) -> list[EngineStatus]:
    k = kafka.KafkaLayout.of(engines, secure)
    e = elasticsearch.ElasticsearchLayout.of(engines, secure)
    kafka_port = engines.secure_kafka_port if secure else engines.kafka_port
    k_pid, e_pid = k.pid_file.running_pid(), e.pid_file.running_pid()
    password = e.password_file.read_text().strip() if e.password_file.is_file() else None
    return [
        EngineStatus(
            name="kafka",
            running=k_pid is not None,
            healthy=k_pid is not None and kafka.is_healthy(engines, _kafka_client(engines, secure)),
            pid=k_pid,
            endpoint=f"127.0.0.1:{kafka_port}",
            version=engines.kafka_version,
            log=str(k.log),
        ),
        EngineStatus(
            name="elasticsearch",
            running=e_pid is not None,
            healthy=e_pid is not None and elasticsearch.health(e, password) in ("green", "yellow"),
            pid=e_pid,
            endpoint=e.url,
            version=engines.elasticsearch_version,
            log=str(e.launcher_log),
        ),
    ]


def status_dicts(engines: EngineSettings) -> list[dict[str, object]]:
    return [asdict(s) for s in status(engines)]
