"""The ``ctxi`` console script: one module per command group, one error printer (``errors.py``).

Each module holds its commands and only what presenting them needs; the work itself is in
the stage it belongs to (``ingest``, ``rules``, ``simulate``, ``benchmarks``, ...).
"""

from __future__ import annotations

import typer

from ctxi.cli import bench, desktop, devstack, events, replay, rules, schemas, simulate, sla, topics, worker
from ctxi.cli.errors import OneLineErrors

app = typer.Typer(
    cls=OneLineErrors,
    help="ctxi: context integration for contact-center next-best actions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(devstack.app, name="devstack")
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.add_typer(events.app, name="events")
app.add_typer(rules.app, name="rules")
app.add_typer(desktop.app, name="desktop")
app.add_typer(sla.app, name="sla")
app.command()(worker.worker)
app.command()(replay.replay)
app.command()(simulate.simulate)
app.command()(simulate.evaluate)
app.command()(bench.bench)


def main() -> None:
    app()
