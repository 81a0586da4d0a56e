"""The ceiling for ``ctxi bench``: a bare faust agent that consumes the input topics and
re-produces every message unchanged, on the same broker, with the same client settings.

Run as a worker: ``python -m ctxi.benchmarks.ceiling worker`` with the ``CTXI_*``
variables of the run (its app id, input topics and partitions). Its output topic is
``<app id>.ceiling``.
"""

from __future__ import annotations

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


@app.agent(source)
async def forward(stream):
    async for key, value in stream.items():
        await sink.send(key=key, value=value)


if __name__ == "__main__":
    app.main()
