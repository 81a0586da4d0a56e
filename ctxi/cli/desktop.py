"""``ctxi desktop``: serve the desktop gateway, and make agents' tokens."""

from __future__ import annotations

import logging
from typing import Annotated

import orjson
import typer

from ctxi.cli.errors import err, fail
from ctxi.settings import get_settings
from ctxi.streams.topics import catalogue, ensure_topics

app = typer.Typer(help="The desktop gateway: the HTTP API agent desktops use.")


@app.callback(invoke_without_command=True)
def serve(context: typer.Context) -> None:
    """Serve the desktop gateway on CTXI_DESKTOP_HOST:CTXI_DESKTOP_PORT."""
    if context.invoked_subcommand is not None:
        return
    from aiohttp import web

    from ctxi.gateway.server import build
    from ctxi.streams.logs import configure

    settings = get_settings()
    configure(settings.log_format, settings.log_level)
    for chatter in ("aiohttp.access", "kafka"):  # a line per request (desktops poll), the admin client's connects
        logging.getLogger(chatter).setLevel(logging.WARNING)
    if not settings.agents:
        err("warning: no agents configured (CTXI_AGENTS): every request will get 401; see `ctxi desktop token`")
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    # a desktop that goes away ends its event stream's handler at once (freeing its place)
    web.run_app(build(settings), host=settings.desktop_host, port=settings.desktop_port, handler_cancellation=True)


@app.command("token")
def token(
    agent_id: Annotated[str, typer.Argument(help="The agent the token is for, e.g. A-17.")],
    queues: Annotated[str, typer.Option("--queues", help="Comma-separated queues the agent may work.")],
    supervisor: Annotated[
        bool, typer.Option("--supervisor", help="A supervisor's token: it watches QUEUES, claims nothing.")
    ] = False,
    customer_lookup: Annotated[
        bool,
        typer.Option(
            "--customer-lookup", help="It may open any customer by id, email or phone (each view is recorded)."
        ),
    ] = False,
) -> None:
    """Make a token for an agent (or a supervisor): print it (once) and a ready-to-paste command
    starting the gateway with it."""
    from ctxi.gateway.auth import hash_token, new_token

    allowed = [queue.strip() for queue in queues.split(",") if queue.strip()]
    unknown = sorted(set(allowed) - set(get_settings().queues))
    if not allowed or unknown:
        fail(f"--queues needs queues from {get_settings().queues}" + (f"; unknown: {unknown}" if unknown else ""), 2)
    token = new_token()
    typer.echo(f"token for {agent_id} (shown once): {token}")
    kept = {
        name: access.model_dump(exclude=None if access.customer_lookup else {"customer_lookup"})
        for name, access in get_settings().agents.items()
        if name != agent_id
    }
    entry: dict[str, object] = {
        "token_sha256": hash_token(token),
        "queues": allowed,
        "role": "supervisor" if supervisor else "agent",
    }
    if customer_lookup:
        entry["customer_lookup"] = True
    agents = kept | {agent_id: entry}
    typer.echo("start the gateway with it (agents already in CTXI_AGENTS kept):")
    typer.echo(f"CTXI_AGENTS='{orjson.dumps(agents).decode()}' .venv/bin/ctxi desktop")
