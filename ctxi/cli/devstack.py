"""``ctxi devstack``: the local Kafka broker and Redis server."""

from __future__ import annotations

from typing import Annotated

import typer

from ctxi.cli.errors import err
from ctxi.devstack import DevStack
from ctxi.settings import get_settings

app = typer.Typer(help="The local Kafka broker and Redis server (no Docker needed).", no_args_is_help=True)


@app.command("up")
def up() -> None:
    """Start Kafka (KRaft, single node) and Redis on loopback and wait until both answer."""
    DevStack(get_settings(), echo=err).up()


@app.command("down")
def down(
    wipe: Annotated[bool, typer.Option("--wipe", help="Also delete the broker's and Redis's data.")] = False,
) -> None:
    """Stop the local Kafka and Redis."""
    DevStack(get_settings(), echo=err).down(wipe=wipe)


@app.command("stop")
def stop(
    services: Annotated[list[str], typer.Argument(help="kafka and/or redis.", show_default=False)],
) -> None:
    """Stop one service, keeping its data: rehearse a broker or Redis outage; `up` brings it back."""
    DevStack(get_settings(), echo=err).stop(*services)


@app.command("status")
def status() -> None:
    """Show whether Kafka answers metadata and Redis answers PING; exit 1 unless both do."""
    statuses = DevStack(get_settings(), echo=err).status()
    for status in statuses:
        typer.echo(str(status))
    if not all(status.ready for status in statuses):
        raise typer.Exit(1)
