"""The client's ceiling for ``ctxi bench``: plain aiokafka, no faust, consuming the input
topics in batches (``getmany``) and re-producing every message unchanged, the sends of a
batch gathered, its offsets committed once they are on the broker.

It is what the Kafka client alone does on this broker and machine: the gap between it and
the bare faust agent (``ceiling.py``) is faust's, the gap between that and the worker ctxi's.

Run as ``python -m ctxi.benchmarks.client_ceiling`` with the ``CTXI_*`` variables of the
run (its app id, input topics); it writes to ``<app id>.client-ceiling`` until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ctxi.settings import get_settings

BATCH = 1000


def output_topic_name(app_id: str) -> str:
    return f"{app_id}.client-ceiling"


async def forward_until_stopped() -> None:
    settings = get_settings()
    servers = settings.kafka_bootstrap_servers
    consumer = AIOKafkaConsumer(
        *settings.input_topics,
        bootstrap_servers=servers,
        group_id=f"{settings.app_id}-client-ceiling",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
    output = output_topic_name(settings.app_id)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, stopping.set)
    await consumer.start()
    await producer.start()
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            sends = [
                await producer.send(output, key=record.key, value=record.value)
                for records in batches.values()
                for record in records
            ]
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(forward_until_stopped())
