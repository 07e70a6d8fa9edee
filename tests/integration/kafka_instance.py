"""A Kafka broker of a test's own (other ports, another data directory), for tests that kill it.

The shared broker must never be stopped (other people's tests use it): a test that
SIGKILLs Kafka starts one of these instead, from the same jars `eventpipe engines up`
resolved, configured and formatted by the same code (`deploy.engines.kafka`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.engines import kafka
from deploy.engines.jdk import find_java_home
from deploy.engines.process import PidFile, spawn
from schemas.settings import EngineSettings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()


class SeparateKafka:
    """One KRaft broker under `home`, on two free ports; start, SIGKILL, start again."""

    def __init__(self, base: EngineSettings, home: Path) -> None:
        self.engines = base.model_copy(
            update={"kafka_port": free_port(), "kafka_controller_port": free_port(),
                    "kafka_heap": "512m"}
        )  # fmt: skip
        shared = kafka.KafkaLayout.of(base)
        self.layout = kafka.KafkaLayout(
            libs=shared.libs, config=home / "config", data=home / "data",
            log=home / "kafka.log",
            pid_file=PidFile(home / "kafka.pid", marker=str(home / "config" / "server.properties")),
        )  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.engines.kafka_port}"

    async def start(self, within: float = 120) -> None:
        java_home = find_java_home(self.engines.java_home)
        await asyncio.to_thread(kafka.fetch, self.engines, self.layout)
        await asyncio.to_thread(kafka.configure, self.engines, self.layout, java_home)
        self.proc = spawn(
            kafka.command(self.engines, self.layout, java_home),
            log_path=self.layout.log, env={"PATH": "/usr/bin:/bin"}, cwd=self.layout.config,
        )  # fmt: skip
        deadline = time.monotonic() + within
        while not await answers(self.bootstrap):
            assert self.proc.poll() is None, f"broker exited; see {self.layout.log}"
            assert time.monotonic() < deadline, f"broker did not start; see {self.layout.log}"
            await asyncio.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, no flush of its own."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
