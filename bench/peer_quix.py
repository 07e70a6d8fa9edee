"""The pipeline bench's peer: Quix Streams' ElasticsearchSink over the same documents.

Quix Streams is what a team would pick instead of eventpipe's worker for Kafka to
Elasticsearch in Python, so the bench measures it beside the worker: same documents,
same topic shape, same Kafka, same Elasticsearch node, same credentials. It is never a
dependency of eventpipe: it lives in a virtualenv of its own under the project's cache
dir (`<cache_dir>/bench-peer-venv`, made on first use, made again when the pins below
change), and runs there as a child process (`bench/peer_quix_app.py`) that reports its
figures as JSON on stdout.

`run_peer` is all the bench calls: it pre-produces the documents (outside the timed
window, as the processor part pre-produces its records), creates the daily index from
the project's events template (so the peer indexes into the same mapping as the
ceiling), runs the child and returns what it measured. The caller owns the names (topic,
index prefix, consumer group) and deletes them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch

from ingest.elasticsearch.indices import ensure_events_template
from schemas.index import events_index_for
from schemas.settings import Settings

QUIX_VERSION = "3.28.1"
# The sink's client must speak to a 9.x node, as the project's own client does.
PEER_REQUIREMENTS = (f"quixstreams[elasticsearch]=={QUIX_VERSION}", "elasticsearch>=9.1,<10")
APP = Path(__file__).resolve().with_name("peer_quix_app.py")
RESULT_PREFIX = "PEER-RESULT "  # as in peer_quix_app
COMMIT_INTERVAL_S = 5.0  # Quix Streams' default checkpoint interval


@dataclass
class PeerResult:
    events_per_s: float
    cpu_us_per_event: float
    cpu_share: float  # CPU seconds per second in the window: 1.0 is one core
    window_s: float  # first record at the sink to the last write acknowledged
    writing_s: float  # of which in the sink's bulk writes
    writes: int
    written: int
    searchable: int
    whole_s: float
    batch_size: int
    commit_interval_s: float


def venv_dir(settings: Settings) -> Path:
    return settings.engines.cache_dir / "bench-peer-venv"


async def _run_printing(command: list[str], prefix: str) -> None:
    """Run `command`, its output shown line by line (pip's progress), failing loudly."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        if not line.startswith(" "):  # pip's "Collecting ...", not each download's size
            print(f"{prefix}{line}", flush=True)
    if await proc.wait() != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}")


async def ensure_peer_venv(settings: Settings) -> Path:
    """The peer virtualenv's python, the venv made (or remade for new pins) when needed."""
    venv = venv_dir(settings)
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(PEER_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"  peer: making {venv} with {', '.join(PEER_REQUIREMENTS)}", flush=True)
    await _run_printing([sys.executable, "-m", "venv", "--clear", str(venv)], "    venv: ")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    await _run_printing([*pip, "--progress-bar", "off", *PEER_REQUIREMENTS], "    pip: ")
    marker.write_text(wanted)
    return python


async def produce_docs(
    settings: Settings, topic: str, docs: list[dict[str, Any]], partitions: int
) -> None:
    """Document i as JSON to partition i % partitions, keyed by its event_id (the _id)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        pending = []
        for i, doc in enumerate(docs):
            value = json.dumps(doc, separators=(",", ":")).encode()
            key = doc["event_id"].encode()
            pending.append(await producer.send(topic, value, key=key, partition=i % partitions))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def run_peer(
    settings: Settings,
    es: AsyncElasticsearch,
    docs: list[dict[str, Any]],
    batch_size: int,
    workdir: Path,
) -> PeerResult:
    """Quix Streams' sink over `docs` from settings.topics.raw into the events prefix's index.

    The topic must exist with the partition count to compare (the caller creates it);
    the consumer group is settings.ingest.worker_group.
    """
    python = await ensure_peer_venv(settings)
    topic, prefix = settings.topics.raw, settings.indices.events
    await produce_docs(settings, topic, docs, settings.topics.partitions)
    await ensure_events_template(es, prefix)
    index = events_index_for(prefix, datetime.now(UTC))
    await es.indices.create(index=index)  # from the template, outside the timed window
    spec = {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "topic": topic,
        "group": settings.ingest.worker_group,
        "index": index,
        "events": len(docs),
        "batch_size": batch_size,
        "commit_interval": COMMIT_INTERVAL_S,
        "state_dir": str(workdir / "peer-state"),
        "elasticsearch": settings.elasticsearch.client_options(),
    }
    log = workdir / "peer.log"
    err = await asyncio.to_thread(open, log, "ab")
    try:
        proc = await asyncio.create_subprocess_exec(
            str(python), str(APP),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
    finally:
        err.close()
    try:
        out, _ = await asyncio.wait_for(
            proc.communicate(json.dumps(spec).encode()), max(300.0, len(docs) / 200)
        )
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    line = next((x for x in out.decode().splitlines() if x.startswith(RESULT_PREFIX)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"peer exited {proc.returncode} without figures; log {log}")
    result = json.loads(line[len(RESULT_PREFIX) :])
    await es.indices.refresh(index=index)
    searchable = (await es.count(index=index))["count"]
    return PeerResult(
        events_per_s=result["events_per_s"],
        cpu_us_per_event=result["cpu_us_per_event"],
        cpu_share=result["cpu_share"],
        window_s=result["window_s"],
        writing_s=result["writing_s"],
        writes=result["writes"],
        written=result["written"],
        searchable=searchable,
        whole_s=result["whole_s"],
        batch_size=batch_size,
        commit_interval_s=COMMIT_INTERVAL_S,
    )
