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

from deploy.engines import elasticsearch, kafka
from deploy.engines.errors import EngineError
from deploy.engines.jdk import find_java_home
from deploy.engines.process import PidFile, spawn, stop, tail
from schemas.settings import EngineSettings


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


def kafka_up(engines: EngineSettings) -> str:
    layout = kafka.KafkaLayout.of(engines)
    if layout.pid_file.running_pid() is not None and kafka.is_healthy(engines):
        return "already running"
    if layout.pid_file.running_pid() is None and _port_taken(engines.kafka_port):
        raise EngineError(
            f"port {engines.kafka_port} is taken by a process eventpipe did not start; "
            "stop it or set EVENTPIPE_ENGINES__KAFKA_PORT and EVENTPIPE_KAFKA__BOOTSTRAP_SERVERS"
        )
    t0 = time.monotonic()
    kafka.fetch(engines, layout)
    fetched = time.monotonic() - t0
    if layout.pid_file.running_pid() is None:
        java_home = find_java_home(engines.java_home)
        kafka.configure(engines, layout, java_home)
        proc = spawn(
            kafka.command(engines, layout, java_home),
            log_path=layout.log,
            env={"PATH": "/usr/bin:/bin"},
            cwd=layout.config,
        )
        layout.pid_file.write(proc.pid)
    waited = _wait(
        "Kafka", lambda: kafka.is_healthy(engines), layout.pid_file, str(layout.log),
        engines.start_timeout,
    )  # fmt: skip
    return f"started in {waited:.1f} s" + (f" (fetched in {fetched:.1f} s)" if fetched > 1 else "")


def elasticsearch_up(engines: EngineSettings) -> str:
    layout = elasticsearch.ElasticsearchLayout.of(engines)
    password = layout.password_file.read_text().strip() if layout.password_file.is_file() else None
    running = layout.pid_file.running_pid() is not None
    if running and elasticsearch.health(engines, password) in ("green", "yellow"):
        return "already running"
    if not running and _port_taken(engines.elasticsearch_port):
        raise EngineError(
            f"port {engines.elasticsearch_port} is taken by a process eventpipe did not start; "
            "stop it or set EVENTPIPE_ENGINES__ELASTICSEARCH_PORT and EVENTPIPE_ELASTICSEARCH__URL"
        )
    t0 = time.monotonic()
    elasticsearch.ensure_user(layout)
    elasticsearch.fetch(engines, layout)
    fetched = time.monotonic() - t0
    if not running:
        java_home = find_java_home(engines.java_home)
        password = elasticsearch.configure(engines, layout, java_home)
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
        lambda: elasticsearch.health(engines, password) in ("green", "yellow"),
        layout.pid_file,
        str(layout.launcher_log),
        engines.start_timeout,
    )
    return f"started in {waited:.1f} s" + (f" (fetched in {fetched:.1f} s)" if fetched > 1 else "")


def up(engines: EngineSettings, report: Callable[[str], None] = print) -> None:
    """Start both engines (or reuse running ones) and wait until they answer."""
    report(f"kafka {engines.kafka_version}: {kafka_up(engines)}")
    report(f"elasticsearch {engines.elasticsearch_version}: {elasticsearch_up(engines)}")


def down(engines: EngineSettings, report: Callable[[str], None] = print) -> None:
    """Stop the engines `up` started; anything else is left alone."""
    for name, pid_file in (
        ("elasticsearch", elasticsearch.ElasticsearchLayout.of(engines).pid_file),
        ("kafka", kafka.KafkaLayout.of(engines).pid_file),
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


def status(engines: EngineSettings) -> list[EngineStatus]:
    k = kafka.KafkaLayout.of(engines)
    e = elasticsearch.ElasticsearchLayout.of(engines)
    k_pid, e_pid = k.pid_file.running_pid(), e.pid_file.running_pid()
    password = e.password_file.read_text().strip() if e.password_file.is_file() else None
    return [
        EngineStatus(
            name="kafka",
            running=k_pid is not None,
            healthy=k_pid is not None and kafka.is_healthy(engines),
            pid=k_pid,
            endpoint=f"127.0.0.1:{engines.kafka_port}",
            version=engines.kafka_version,
            log=str(k.log),
        ),
        EngineStatus(
            name="elasticsearch",
            running=e_pid is not None,
            healthy=e_pid is not None
            and elasticsearch.health(engines, password) in ("green", "yellow"),
            pid=e_pid,
            endpoint=f"http://127.0.0.1:{engines.elasticsearch_port}",
            version=engines.elasticsearch_version,
            log=str(e.launcher_log),
        ),
    ]


def status_dicts(engines: EngineSettings) -> list[dict[str, object]]:
    return [asdict(s) for s in status(engines)]
