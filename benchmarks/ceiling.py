"""The ceiling for ``ctxi bench``: a bare faust agent that consumes the input topics and
re-produces every message unchanged, on the same broker, with the same client settings.

Run as a worker: ``python -m ctxi.benchmarks.ceiling worker`` with the ``CTXI_*``
variables of the run (its app id, input topics and partitions). Its output topic is
``<app id>.ceiling``.

``CEILING_SENDS`` says how it reads and sends (``benchmarks/worker_sends.py`` compares them):
``message`` (the default, the bench's ceiling): one message at a time, each sent through its
topic as an agent does; ``batch``: up to 500 messages at a time (``take_events``), each sent
through its topic; ``producer``: batches, each message handed to faust's producer directly
(what a topic's send wraps: a pending message, its buffer, its callbacks).
"""

from __future__ import annotations

import os

import faust

from ctxi.settings import get_settings

settings = get_settings()


def output_topic_name(app_id: str) -> str:
    return f"{app_id}.ceiling"


app = faust.App(
    f"{settings.app_id}-ceiling",
    broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")],
    datadir=str(settings.data_dir),
    web_port=settings.web_port,
    topic_partitions=settings.topic_partitions,
    topic_allow_declare=True,
    autodiscover=False,
)
source = app.topic(
    *settings.input_topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)
sink = app.topic(
    output_topic_name(settings.app_id), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)


SENDS = os.environ.get("CEILING_SENDS", "message")
if SENDS not in ("message", "batch", "producer"):
    raise SystemExit(f"CEILING_SENDS={SENDS!r}: message, batch or producer")


@app.agent(source)
async def forward(stream):
    if SENDS == "message":
        async for key, value in stream.items():
            await sink.send(key=key, value=value)
        return
    async for batch in stream.take_events(500, within=0.02):
        if SENDS == "batch":
            for event in batch:
                await sink.send(key=event.message.key, value=event.message.value)
            continue
        name = sink.get_topic_name()
        sent = [
            await app.producer.send(name, event.message.key, event.message.value, None, None, None) for event in batch
        ]
        for delivery in sent:
            await delivery


if __name__ == "__main__":
    app.main()
