"""``ctxi topics``: the topics ctxi uses, created, described and read."""

from __future__ import annotations

from typing import Annotated

import typer

from ctxi.settings import get_settings
from ctxi.streams.topics import catalogue, ensure_topics

app = typer.Typer(help="Kafka topics ctxi uses.", no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create every topic ctxi uses (idempotent: existing topics are left alone)."""
    settings = get_settings()
    specs = catalogue(settings)
    created = set(ensure_topics(settings.kafka_bootstrap_servers, specs))
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        typer.echo(f"{spec.name:<28} {state:<8} partitions={spec.partitions} {spec.purpose}")


@app.command("describe")
def describe(
    partitions: Annotated[
        bool, typer.Option("--partitions", help="Show each consumer group's lag per partition.")
    ] = False,
) -> None:
    """Show every topic ctxi uses as the broker has it: partitions, replicas, settings that
    differ from the broker's defaults, messages held, and the lag of each consumer group
    that committed offsets on it. Exit 1 if a topic is missing."""
    from ctxi.streams.topics import describe_topics

    settings = get_settings()
    states = describe_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    width = max(len(state.spec.name) for state in states)
    typer.echo(f"{'topic':<{width}}  partitions  replicas  {'messages':>9}  settings")
    for state in states:
        if not state.exists:
            typer.echo(f"{state.spec.name:<{width}}  MISSING ({state.spec.purpose}): run ctxi topics create")
            continue
        config = ", ".join(f"{key}={value}" for key, value in sorted(state.config.items())) or "-"
        typer.echo(
            f"{state.spec.name:<{width}}  {state.partitions:>10}  {state.replication_factor:>8}  "
            f"{state.messages:>9,}  {config}"
        )
        for group, behind in sorted(state.lag.items()):
            detail = ""
            if partitions:
                detail = " (" + ", ".join(f"p{p} {lag:,}" for p, lag in sorted(behind.items())) + ")"
            typer.echo(f"{'':<{width}}    lag of group {group}: {sum(behind.values()):,}{detail}")
    if not all(state.exists for state in states):
        raise typer.Exit(1)


@app.command("tail")
def tail(
    topic: Annotated[str, typer.Argument(help="Topic to read, e.g. ctxi.dead_letters.")],
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest message.")] = False,
    max_messages: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many messages.")] = None,
    idle_timeout: Annotated[
        float | None, typer.Option("--idle-timeout", min=0.1, help="Stop after this many seconds without a message.")
    ] = None,
) -> None:
    """Print a topic's messages as `partition@offset key value`, one per line (without joining a group)."""
    from kafka import KafkaConsumer

    settings = get_settings()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_timeout * 1000) if idle_timeout else float("inf"),
    )
    try:
        for count, record in enumerate(consumer, start=1):
            key = record.key.decode("utf-8", "replace") if record.key is not None else "-"
            value = record.value.decode("utf-8", "replace") if record.value is not None else "null"
            typer.echo(f"{record.partition}@{record.offset} {key} {value}")
            if max_messages is not None and count >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
