"""faust-streaming runs against the broker: a real worker process consumes and produces."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.settings import Settings
from tests.integration.pipeline import settings_environment

ROOT = Path(__file__).resolve().parents[2]


async def test_faust_worker_relays_between_topics(
    settings: Settings, unique_name: str, tmp_path: Path
) -> None:
    options = settings.kafka.client_options()
    source, sink = f"{unique_name}-in", f"{unique_name}-out"
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    await admin.create_topics(
        [NewTopic(name, num_partitions=1, replication_factor=1) for name in (source, sink)]
    )
    env = {
        **settings_environment(settings),
        "RELAY_APP_ID": unique_name,
        "RELAY_DATADIR": str(tmp_path / "faust"),
        "RELAY_SOURCE": source,
        "RELAY_SINK": sink,
    }
    log = tmp_path / "worker.log"
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "faust"), "-A", "tests.integration.faust_relay",
        "worker", "-l", "info", "--without-web", "--logfile", str(log),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        sent = [f"alert-{i}".encode() for i in range(20)]
        producer = AIOKafkaProducer(**options, acks="all")
        await producer.start()
        try:
            for value in sent:
                await producer.send(source, value)
            await producer.flush()
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(sink, **options, auto_offset_reset="earliest")
        await consumer.start()
        received: list[bytes] = []
        try:
            async with asyncio.timeout(120):
                while len(received) < len(sent):
                    assert worker.returncode is None, f"worker exited, see {log}"
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        received += [r.value for r in records]
        finally:
            await consumer.stop()
        assert received == [value.upper() for value in sent]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await worker.wait()
        except TimeoutError:
            worker.kill()
        await admin.delete_topics([source, sink])
        await admin.close()
