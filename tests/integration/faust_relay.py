"""A faust-streaming app for the engine test: its agent upper-cases one topic into another.

Started as a real worker process (`faust -A tests.integration.faust_relay worker`);
the test passes the topic names and data folder through RELAY_* variables.
"""

import os

import faust

from ingest.kafka.faust_runtime import broker_options
from schemas.settings import Settings

app = faust.App(
    os.environ["RELAY_APP_ID"],
    **broker_options(Settings().kafka),
    store="memory://",
    datadir=os.environ["RELAY_DATADIR"],
    web_enabled=False,
    topic_partitions=1,
)
source = app.topic(os.environ["RELAY_SOURCE"], value_serializer="raw")
sink = app.topic(os.environ["RELAY_SINK"], value_serializer="raw")


@app.agent(source)
async def relay(stream: faust.StreamT[bytes]) -> None:
    async for value in stream:
        await sink.send(value=value.upper())
