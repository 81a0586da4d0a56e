"""``ctxi worker``: run a stream worker."""

from __future__ import annotations

import typer

from ctxi.cli.errors import err
from ctxi.settings import get_settings
from ctxi.streams.topics import catalogue, ensure_topics


def worker() -> None:
    """Run a stream worker: ingest, then the rest of the pipeline, on the configured Kafka."""
    import faust

    from ctxi.streams.faust_fixes import check_versions

    check_versions()  # before anything touches Kafka
    settings = get_settings()
    created = ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    if created:
        err(f"created topics: {', '.join(created)}")
    from ctxi.agents.build import build_worker
    from ctxi.engine.garbage import collect_less
    from ctxi.streams.logs import logging_config, quiet_harmless_errors, startup_logging
    from ctxi.streams.machine import NoSlot, claim
    from ctxi.streams.metrics import serve

    with startup_logging(settings.log_format, settings.log_level):
        try:
            claimed = claim(settings)  # another worker on this machine may hold the configured ports
        except NoSlot as exc:
            err(str(exc))
            raise typer.Exit(1) from None
        worker = build_worker(claimed.settings)
    collect_less()
    serve(claimed.settings)
    quiet_harmless_errors()
    faust.Worker(
        worker.app, loglevel=settings.log_level, logging_config=logging_config(settings.log_format, settings.log_level)
    ).execute_from_commandline()
