"""The ``ctxi`` console script."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import orjson
import typer

from ctxi.devstack import DevStack, DevStackError
from ctxi.ingest import read_jsonl
from ctxi.schemas import EVENT_ADAPTER, EVENT_TYPES, SOURCES, DeadLetter, Task
from ctxi.streams.settings import get_settings
from ctxi.streams.topics import catalogue, ensure_topics

app = typer.Typer(
    help="ctxi: context integration for contact-center next-best actions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
devstack_app = typer.Typer(help="The local Kafka broker and Redis server (no Docker needed).", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics ctxi uses.", no_args_is_help=True)
schemas_app = typer.Typer(help="JSON Schemas of the event and task contracts.", no_args_is_help=True)
events_app = typer.Typer(help="Work with event files (JSONL, one event per line).", no_args_is_help=True)
app.add_typer(devstack_app, name="devstack")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(events_app, name="events")


def _err(message: str) -> None:
    typer.echo(message, err=True)


# --- devstack ----------------------------------------------------------------------------


@devstack_app.command("up")
def devstack_up() -> None:
    """Start Kafka (KRaft, single node) and Redis on loopback and wait until both answer."""
    try:
        DevStack(get_settings(), echo=_err).up()
    except DevStackError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None


@devstack_app.command("down")
def devstack_down(
    wipe: Annotated[bool, typer.Option("--wipe", help="Also delete the broker's and Redis's data.")] = False,
) -> None:
    """Stop the local Kafka and Redis."""
    DevStack(get_settings(), echo=_err).down(wipe=wipe)


@devstack_app.command("status")
def devstack_status() -> None:
    """Show whether Kafka answers metadata and Redis answers PING; exit 1 unless both do."""
    statuses = DevStack(get_settings(), echo=_err).status()
    for status in statuses:
        typer.echo(str(status))
    if not all(status.ready for status in statuses):
        raise typer.Exit(1)


# --- topics ------------------------------------------------------------------------------


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic ctxi uses (idempotent: existing topics are left alone)."""
    settings = get_settings()
    specs = catalogue(settings)
    created = set(ensure_topics(settings.kafka_bootstrap_servers, specs))
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        typer.echo(f"{spec.name:<28} {state:<8} partitions={spec.partitions} {spec.purpose}")


@topics_app.command("tail")
def topics_tail(
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


# --- worker ------------------------------------------------------------------------------


@app.command()
def worker() -> None:
    """Run a stream worker: ingest, then the rest of the pipeline, on the configured Kafka."""
    import faust

    settings = get_settings()
    created = ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    if created:
        _err(f"created topics: {', '.join(created)}")
    from ctxi import agents  # noqa: F401  (registers the agents on the app)
    from ctxi.streams.app import app as faust_app

    faust.Worker(faust_app, loglevel=settings.log_level).execute_from_commandline()


# --- replay ------------------------------------------------------------------------------


@app.command()
def replay(
    events: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSONL event files.")],
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Where to write the output (default: stdout).")
    ] = None,
    dead_letter: Annotated[
        Path | None,
        typer.Option("--dead-letter", dir_okay=False, help="Write rejected lines here as dead-letter records."),
    ] = None,
) -> None:
    """Run the whole engine in this process, no Kafka or Redis: events in event-time order.

    Writes one enriched event (the event's id, customer and signals) per line; rejected
    lines go to --dead-letter (else they are reported on stderr as file:line: reason).
    A summary goes to stderr. Exits 0 when it ran, even with rejected lines.
    """
    from ctxi.engine.pipeline import EnrichedEvent
    from ctxi.engine.replay import replay as run_replay

    settings = get_settings()
    sink = out.open("wb") if out else sys.stdout.buffer
    letters = dead_letter.open("wb") if dead_letter else None

    def publish(enriched: EnrichedEvent) -> None:
        sink.write(orjson.dumps(enriched.model_dump()) + b"\n")

    def reject(letter: DeadLetter) -> None:
        if letters is not None:
            letters.write(orjson.dumps(letter.model_dump()) + b"\n")
        else:
            _err(f"{letter.origin}: {letter.reason}")

    try:
        summary = run_replay(events, settings.engine, publish, reject, progress=_err)
    finally:
        if out:
            sink.close()
        else:
            sink.flush()
        if letters is not None:
            letters.close()
    for line in summary.lines():
        _err(line)


# --- schemas -----------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(directory: Annotated[Path, typer.Argument(help="Where to write the .schema.json files.")]) -> None:
    """Write JSON Schema files: one per event type, the event envelope union, the task and the dead letter."""
    directory.mkdir(parents=True, exist_ok=True)
    documents = {
        "event": EVENT_ADAPTER.json_schema(),
        "task": Task.model_json_schema(),
        "dead_letter": DeadLetter.model_json_schema(),
        **{event_type: model.model_json_schema() for event_type, model in EVENT_TYPES.items()},
    }
    for name, schema in documents.items():
        path = directory / f"{name}.schema.json"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    typer.echo(f"wrote {len(documents)} schemas to {directory}")


# --- events ------------------------------------------------------------------------------


@events_app.command("check")
def events_check(files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Validate event files; print `file:line: reason` for each rejected line; exit 1 if any."""
    counts: Counter[str] = Counter()
    for path in files:
        for _, _, outcome in read_jsonl(path):
            if isinstance(outcome, DeadLetter):
                counts["rejected"] += 1
                typer.echo(f"{outcome.origin}: {outcome.reason}")
            else:
                counts["valid"] += 1
    _err(f"{counts['valid']} valid, {counts['rejected']} rejected")
    if counts["rejected"]:
        raise typer.Exit(1)


@events_app.command("produce")
def events_produce(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, one event per line.")],
    topic: Annotated[
        str | None, typer.Option(help="Send every line here instead of routing by the event's source.")
    ] = None,
) -> None:
    """Send each line of FILE as one Kafka message to the input topics, as a source system would.

    Lines are sent as they are, bad ones included (so the dead-letter path can be seen).
    Each goes to the input topic of its `type`'s source (crm.* -> events.crm), keyed by
    customer_id; a line whose source cannot be read needs --topic.
    """
    from kafka import KafkaProducer

    settings = get_settings()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")
    sent: Counter[str] = Counter()
    unroutable = 0
    with file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            target, key = _route(line, settings.input_topic, topic)
            if target is None:
                unroutable += 1
                _err(f"{file}:{number}: no known source in 'type'; not sent (use --topic to send it anyway)")
                continue
            producer.send(target, key=key, value=line)
            sent[target] += 1
    producer.flush()
    producer.close()
    for target, count in sorted(sent.items()):
        typer.echo(f"{target}: {count} message(s)")
    if unroutable:
        raise typer.Exit(1)


def _route(line: bytes, input_topic: Callable[[str], str], forced_topic: str | None) -> tuple[str | None, bytes | None]:
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        return forced_topic, None
    customer_id = document.get("customer_id")
    key = customer_id.encode() if isinstance(customer_id, str) else None
    if forced_topic is not None:
        return forced_topic, key
    source = str(document.get("type", "")).partition(".")[0]
    return (input_topic(source) if source in SOURCES else None), key


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
