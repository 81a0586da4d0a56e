"""``ctxi events``: check event files, and produce them to the input topics as a source would."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from ctxi.cli.errors import err, fail
from ctxi.ingest import read_jsonl, unknown_fields
from ctxi.ingest.jsonl import numbered_lines, route_line
from ctxi.ingest.validation import printable
from ctxi.schemas import DeadLetter
from ctxi.settings import get_settings

app = typer.Typer(help="Work with event files (JSONL, one event per line).", no_args_is_help=True)


@app.command("check")
def check(files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Validate event files; print `file:line: reason` for each rejected line; exit 1 if any.

    Fields the contract does not know are named too (`file:line: payload.x: ...`): events
    keep flowing without them; send them in `payload.attributes` for rules to read them.
    """
    counts: Counter[str] = Counter()
    window = get_settings().event_time
    for path in files:
        for origin, raw, outcome in read_jsonl(path, window):
            if isinstance(outcome, DeadLetter):
                counts["rejected"] += 1
                typer.echo(f"{outcome.origin}: {outcome.reason}")
                continue
            counts["valid"] += 1
            for field_path in unknown_fields(_document(raw), outcome):
                counts["unknown"] += 1
                typer.echo(
                    f"{origin}: {printable(field_path)}: not in the {outcome.type} contract, ignored "
                    "(send it in payload.attributes for rules to read it)"
                )
    unknown = f"; {counts['unknown']} unknown field(s) ignored" if counts["unknown"] else ""
    err(f"{counts['valid']} valid, {counts['rejected']} rejected{unknown}")
    if counts["rejected"]:
        raise typer.Exit(1)


@app.command("produce")
def produce(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, one event per line.")],
    topic: Annotated[
        str | None, typer.Option(help="Send every line here instead of routing by the event's source.")
    ] = None,
    shift_to_now: Annotated[
        bool,
        typer.Option(
            "--shift-to-now",
            help="Move every timestamp by the same amount so the latest event happens now (current tasks).",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds between messages, as a live source sends them (keeps their order across topics)."
        ),
    ] = 0.0,
) -> None:
    """Send each line of FILE as one Kafka message to the input topics, as a source system would.

    Lines are sent as they are, bad ones included (so the dead-letter path can be seen).
    Each goes to the input topic of its `type`'s source (crm.* -> events.crm), keyed by
    customer_id; a line whose source cannot be read needs --topic. A line that cannot be
    sent (no source, over the broker's message size) is reported as file:line and the
    rest are sent. Exits 0 when it ran (as replay does), even with lines not sent; 1 when
    the broker cannot be reached or nothing at all could be sent.
    """
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError

    from ctxi.ingest.retime import latest_occurrence, shift_line

    settings = get_settings()
    delta = None
    if shift_to_now:  # a first pass finds the latest event; the file is streamed, never held whole
        latest = latest_occurrence(line for _, line in numbered_lines(file))
        if latest is None:
            fail(f"{file} has no event with a readable occurred_at to shift from")
        delta = datetime.now(UTC).replace(microsecond=0) - latest
        err(f"shifting every timestamp by {delta} (the latest event happens now)")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")
    sent: Counter[str] = Counter()
    not_sent = 0

    def refused(number: int, target: str, size: int) -> Callable[[Exception], None]:
        def report(error: Exception) -> None:
            nonlocal not_sent
            not_sent += 1
            sent[target] -= 1
            err(f"{file}:{number}: not sent ({size} bytes): {type(error).__name__}: {error}")

        return report

    for number, line in numbered_lines(file):
        if delta is not None:
            line = shift_line(line, delta)
        target, key = route_line(line, settings.input_topic, topic)
        if target is None:
            not_sent += 1
            err(f"{file}:{number}: no known source in 'type'; not sent (use --topic to send it anyway)")
            continue
        try:
            future = producer.send(target, key=key, value=line)
        except MessageSizeTooLargeError:
            not_sent += 1
            limit = producer.config["max_request_size"]
            err(f"{file}:{number}: too large ({len(line)} bytes; a message may have {limit}); not sent")
            continue
        future.add_errback(refused(number, target, len(line)))  # the broker's own size limit, among others
        sent[target] += 1
        if interval:
            producer.flush()
            time.sleep(interval)
    producer.flush()
    producer.close()
    for target, count in sorted(sent.items()):
        typer.echo(f"{target}: {count} message(s)")
    if not_sent:
        err(f"{not_sent} line(s) not sent (reported above)")
    if not_sent and not sum(sent.values()):
        raise typer.Exit(1)


def _document(raw: bytes) -> object:
    """A valid event's JSON as a document; NaN or 1e400 in a field the contract ignores (which
    pydantic reads and orjson refuses) is read by Python's own reader."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
