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

Two more do the per-key state work a ctxi worker does on top (what the Quix Streams peer does):
each message reads its key's row and writes it back, about as large as a customer's context
(``ROW_BYTES``), then forwards the message. ``table``: one message at a time, the row in a
faust table (each write a changelog record through faust's table path, as ctxi's rows are);
``buffer``: batches, the rows in a dict and each row a batch touched written to the changelog
once at the batch's end, outputs and rows handed to the producer (a write buffer, what Kafka
Streams' record cache and Quix Streams' ``PartitionTransaction`` are).
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
if SENDS not in ("message", "batch", "producer", "table", "buffer"):
    raise SystemExit(f"CEILING_SENDS={SENDS!r}: message, batch, producer, table or buffer")
ROW_BYTES = 1900  # a customer's context row, median (docs/benchmarks.md)

if SENDS in ("table", "buffer"):  # the other ceilings keep no state (and recover none at start)
    rows = app.Table("rows", partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)  # raw


def next_row(row: bytes | None, value: bytes) -> bytes:
    """The key's row after one more message: the message, then as much of the row as fits."""
    return (value + (row or b""))[:ROW_BYTES]


async def forward_buffered(stream):
    held: dict[bytes, bytes] = {}  # every key's row (the store)
    await rows.changelog_topic.maybe_declare()
    changelog_name = rows.changelog_topic.get_topic_name()
    async for batch in stream.take_events(500, within=0.02):
        touched: dict[bytes, int] = {}  # key -> partition: the rows this batch wrote
        sent = []
        for event in batch:
            key, value = event.message.key, event.message.value
            if key is not None:  # a compacted changelog takes keyed records only
                held[key] = next_row(held.get(key), value)
                touched[key] = event.message.partition
            sent.append(await app.producer.send(sink.get_topic_name(), key, value, None, None, None))
        for key, partition in touched.items():
            sent.append(await app.producer.send(changelog_name, key, held[key], partition, None, None))
        for delivery in sent:
            await delivery


@app.agent(source)
async def forward(stream):
    if SENDS == "buffer":
        await forward_buffered(stream)
        return
    if SENDS in ("message", "table"):
        async for key, value in stream.items():
            if SENDS == "table" and key is not None:
                rows[key] = next_row(rows.get(key), value)
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
