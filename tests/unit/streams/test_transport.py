"""The workers' app talks to Kafka through ctxi's transport (the rewind itself: tests/integration/test_transport.py)."""

from __future__ import annotations

from faust.transport import by_url

from ctxi.streams import transport
from ctxi.streams.app import app


def test_the_app_brokers_resolve_to_the_ctxi_transport() -> None:
    for url in [*app.conf.broker_consumer, *app.conf.broker_producer]:
        assert url.scheme == transport.SCHEME
        assert by_url(url) is transport.Transport
