"""The ``ctxi`` console script."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ctxi.devstack import DevStack, DevStackError
from ctxi.ingest import read_jsonl, unknown_fields
from ctxi.rules.model import Pack
from ctxi.schemas import EVENT_ADAPTER, EVENT_TYPES, SOURCES, DeadLetter, Task
from ctxi.settings import get_settings
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
rules_app = typer.Typer(help="Rule packs: check, test, diff, publish, snooze.", no_args_is_help=True)
desktop_app = typer.Typer(help="The desktop gateway: the HTTP API agent desktops use.")
app.add_typer(devstack_app, name="devstack")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(events_app, name="events")
app.add_typer(rules_app, name="rules")
app.add_typer(desktop_app, name="desktop")


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


@devstack_app.command("stop")
def devstack_stop(
    services: Annotated[list[str], typer.Argument(help="kafka and/or redis.", show_default=False)],
) -> None:
    """Stop one service, keeping its data: rehearse a broker or Redis outage; `up` brings it back."""
    try:
        DevStack(get_settings(), echo=_err).stop(*services)
    except DevStackError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None


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


@topics_app.command("describe")
def topics_describe(
    partitions: Annotated[
        bool, typer.Option("--partitions", help="Show each consumer group's lag per partition.")
    ] = False,
) -> None:
    """Show every topic ctxi uses as the broker has it: partitions, replicas, settings that
    differ from the broker's defaults, messages held, and the lag of each consumer group
    that committed offsets on it. Exit 1 if a topic is missing."""
    from ctxi.streams.topics import describe_topics

    settings = get_settings()
    with _kafka_errors(settings):
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


@rules_app.command("snoozes")
def rules_snoozes(
    all_: Annotated[bool, typer.Option("--all", help="Also list the snoozes that have expired.")] = False,
) -> None:
    """List the snoozes in force (rule, customer or dedup key, until when, why, by whom)."""
    from ctxi.rules.publish import read_compacted
    from ctxi.rules.snooze import Snooze

    settings = get_settings()
    now = datetime.now(UTC)
    snoozes = [Snooze.model_validate_json(value) for value in read_compacted(settings, settings.snoozes_topic)]
    shown = [snooze for snooze in snoozes if all_ or snooze.until > now]
    for snooze in sorted(shown, key=lambda snooze: snooze.until):
        state = "" if snooze.until > now else " (expired)"
        typer.echo(f"{snooze.key} until {snooze.until.isoformat()}{state}: {snooze.reason} (by {snooze.by})")
    typer.echo(f"{len(shown)} snooze(s)")


# --- desktop gateway ---------------------------------------------------------------------


@desktop_app.callback(invoke_without_command=True)
def desktop(context: typer.Context) -> None:
    """Serve the desktop gateway on CTXI_DESKTOP_HOST:CTXI_DESKTOP_PORT."""
    if context.invoked_subcommand is not None:
        return
    from aiohttp import web

    from ctxi.gateway.server import build

    settings = get_settings()
    if not settings.agents:
        _err("warning: no agents configured (CTXI_AGENTS): every request will get 401; see `ctxi desktop token`")
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    # a desktop that goes away ends its event stream's handler at once (freeing its place)
    web.run_app(build(settings), host=settings.desktop_host, port=settings.desktop_port, handler_cancellation=True)


@desktop_app.command("token")
def desktop_token(
    agent_id: Annotated[str, typer.Argument(help="The agent the token is for, e.g. A-17.")],
    queues: Annotated[str, typer.Option("--queues", help="Comma-separated queues the agent may work.")],
) -> None:
    """Make a token for an agent: print it (once) and a ready-to-paste command starting the gateway with it."""
    from ctxi.gateway.auth import hash_token, new_token

    allowed = [queue.strip() for queue in queues.split(",") if queue.strip()]
    unknown = sorted(set(allowed) - set(get_settings().queues))
    if not allowed or unknown:
        _err(
            f"error: --queues needs queues from {get_settings().queues}" + (f"; unknown: {unknown}" if unknown else "")
        )
        raise typer.Exit(2)
    token = new_token()
    typer.echo(f"token for {agent_id} (shown once): {token}")
    agents = {name: access.model_dump() for name, access in get_settings().agents.items() if name != agent_id} | {
        agent_id: {"token_sha256": hash_token(token), "queues": allowed}
    }
    typer.echo("start the gateway with it (agents already in CTXI_AGENTS kept):")
    typer.echo(f"CTXI_AGENTS='{orjson.dumps(agents).decode()}' .venv/bin/ctxi desktop")


# --- worker ------------------------------------------------------------------------------


@app.command()
def worker() -> None:
    """Run a stream worker: ingest, then the rest of the pipeline, on the configured Kafka."""
    import faust

    from ctxi.streams.faust_fixes import UnsupportedVersions, check_versions

    try:
        check_versions()  # before anything touches Kafka
    except UnsupportedVersions as exc:
        _err(str(exc))
        raise typer.Exit(1) from None
    settings = get_settings()
    created = ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    if created:
        _err(f"created topics: {', '.join(created)}")
    from ctxi.agents.worker import build_worker
    from ctxi.engine.garbage import collect_less
    from ctxi.streams.logs import logging_config
    from ctxi.streams.metrics import serve

    worker = build_worker(settings)
    collect_less()
    serve(settings)
    faust.Worker(
        worker.app, loglevel=settings.log_level, logging_config=logging_config(settings.log_format, settings.log_level)
    ).execute_from_commandline()


# --- replay ------------------------------------------------------------------------------


def _load_rules(directory: Path | None):
    """The rule set of ``directory`` (built-in packs when None); exit 1 listing file:line errors."""
    from ctxi.rules import BUILTIN_PACKS
    from ctxi.rules.evaluate import RuleSet
    from ctxi.rules.loader import RulePackError, load_rule_dir

    try:
        return RuleSet(load_rule_dir(directory or BUILTIN_PACKS, frozenset(get_settings().queues)))
    except RulePackError as exc:
        for error in exc.errors:
            _err(error)
        raise typer.Exit(1) from None


def _read_snoozes(path: Path | None):
    from ctxi.rules.snooze import Snooze, Snoozes

    snoozes = Snoozes()
    if path is not None:
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                try:
                    snoozes.put(Snooze.model_validate_json(line))
                except ValueError as exc:
                    _err(f"{path}:{number}: not a snooze: {exc}")
                    raise typer.Exit(1) from None
    return snoozes


@app.command()
def replay(
    events: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSONL event files.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", file_okay=False, help="Rule packs (default: the built-in packs).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Where to write the output (default: stdout).")
    ] = None,
    dead_letter: Annotated[
        Path | None,
        typer.Option("--dead-letter", dir_okay=False, help="Write rejected lines here as dead-letter records."),
    ] = None,
    signals: Annotated[
        bool, typer.Option("--signals", help="Write the enriched events (signals) instead of the tasks.")
    ] = False,
    snoozes: Annotated[
        Path | None, typer.Option("--snoozes", exists=True, dir_okay=False, help="JSONL of snoozes to apply.")
    ] = None,
) -> None:
    """Run the whole engine in this process, no Kafka or Redis: events in event-time order.

    Writes one task per line (or, with --signals, one enriched event per line); shadow
    rules' tasks only appear in the report. Rejected lines go to --dead-letter (else they
    are reported on stderr as file:line: reason). The summary on stderr says, per rule, how
    often it fired, with sample tasks: a backtest. Exits 0 when it ran, even with rejected
    lines; 1 when the rules do not load.
    """
    from ctxi.engine.garbage import collect_less
    from ctxi.engine.replay import replay as run_replay

    settings = get_settings()
    rule_set = _load_rules(rules)
    snooze_set = _read_snoozes(snoozes)
    collect_less()
    sink = out.open("wb") if out else sys.stdout.buffer
    letters = dead_letter.open("wb") if dead_letter else None

    def write(model: Any) -> None:
        sink.write(orjson.dumps(model.model_dump()) + b"\n")

    def reject(letter: DeadLetter) -> None:
        if letters is not None:
            letters.write(orjson.dumps(letter.model_dump()) + b"\n")
        else:
            _err(f"{letter.origin}: {letter.reason}")

    try:
        summary = run_replay(
            events,
            settings.engine,
            window=settings.event_time,
            publish=write if signals else lambda enriched: None,
            dead_letter=reject,
            progress=_err,
            rules=rule_set,
            decide=None if signals else lambda decision: None if decision.shadow else write(decision.task),
            snoozes=snooze_set,
        )
    finally:
        if out:
            sink.close()
        else:
            sink.flush()
        if letters is not None:
            letters.close()
    _err(f"rules version {rule_set.version}")
    for line in summary.lines():
        _err(line)


# --- rules -------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")]) -> None:
    """Validate rule packs: every error as `file:line: what is wrong`; exit 1 if any."""
    rule_set = _load_rules(directory)
    packs = rule_set.loaded.packs
    typer.echo(f"{len(rule_set.loaded.rules)} rules in {len(packs)} packs: OK (version {rule_set.version})")


@rules_app.command("reference")
def rules_reference(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it here (docs/rule-reference.md) instead of stdout.")
    ] = None,
) -> None:
    """Every variable, field and signal a rule can read, with its type and an example (Markdown)."""
    from ctxi.rules.reference import reference_markdown

    text = reference_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        _err(f"wrote {out}")


@rules_app.command("test")
def rules_test(directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")]) -> None:
    """Run the test cases the packs carry; exit 1 if any fails."""
    from ctxi.rules.pack_tests import run_pack_tests

    results = run_pack_tests(_load_rules(directory).loaded, get_settings().engine)
    for result in results:
        typer.echo(
            f"{'PASS' if result.passed else 'FAIL'} {result.pack}: {result.name}"
            + ("" if result.passed else f": {result.detail}")
        )
    failed = sum(not result.passed for result in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@rules_app.command("diff")
def rules_diff(
    old: Annotated[Path, typer.Argument(file_okay=False, help="The rule packs as they are.")],
    new: Annotated[Path, typer.Argument(file_okay=False, help="The rule packs as proposed.")],
    events: Annotated[list[Path], typer.Option("--events", exists=True, dir_okay=False, help="JSONL events.")],
) -> None:
    """Replay EVENTS with both rule sets and list the tasks the change adds (+) and removes (-)."""
    from ctxi.engine.replay import replay as run_replay
    from ctxi.rules.evaluate import Decision

    def tasks(rule_set) -> dict[tuple, str]:
        found: dict[tuple, str] = {}

        def keep(decision: Decision) -> None:
            task = decision.task
            shadow = " (shadow)" if decision.shadow else ""
            key = (task.customer_id, task.queue, task.action, tuple(task.evidence), bool(shadow))
            found[key] = (
                f"{task.queue}/{task.action} for {task.customer_id} on {task.evidence[0]}{shadow}: {task.title}"
            )

        run_replay(events, get_settings().engine, lambda e: None, lambda d: None, rules=rule_set, decide=keep)
        return found

    from ctxi.engine.garbage import collect_less

    collect_less()
    before, after = tasks(_load_rules(old)), tasks(_load_rules(new))
    added = [after[key] for key in after if key not in before]
    removed = [before[key] for key in before if key not in after]
    for line in added:
        typer.echo(f"+ {line}")
    for line in removed:
        typer.echo(f"- {line}")
    typer.echo(f"{len(added)} added, {len(removed)} removed, {len(set(before) & set(after))} unchanged")


@rules_app.command("publish")
def rules_publish(
    directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")],
    by: Annotated[str, typer.Option("--by", help="Who publishes (kept with the pack).")] = "",
) -> None:
    """Check the packs, run their tests, then publish them to the rules topic for every worker.

    Workers switch to the new version without restart. Rolling back is publishing the
    previous version again. Invalid packs, or packs whose tests fail, are never published.
    """
    import getpass

    from ctxi.rules.pack_tests import run_pack_tests
    from ctxi.rules.publish import new_features, published_packs, running_packs, send

    settings = get_settings()
    rule_set = _load_rules(directory)
    failures = [r for r in run_pack_tests(rule_set.loaded, settings.engine) if not r.passed]
    for failure in failures:
        _err(f"FAIL {failure.pack}: {failure.name}: {failure.detail}")
    if failures:
        _err("not published: the packs' tests fail")
        raise typer.Exit(1)
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    starting = new_features(rule_set.loaded, running_packs(settings, settings.rules_topic))
    packs = published_packs(rule_set.loaded, by or getpass.getuser())
    send(settings.kafka_bootstrap_servers, settings.rules_topic, {pack.pack: pack for pack in packs})
    typer.echo(
        f"published {', '.join(pack.pack for pack in packs)} (version {rule_set.version}) to {settings.rules_topic}"
    )
    published_at = packs[0].published_at
    for compiled in starting:  # they start empty: rules reading them see partial windows until then
        feature = compiled.feature
        typer.echo(
            f"feature {feature.id} is new or changed: it counts from now and is warm (features.{feature.id}.warm) "
            f"from {published_at + feature.window:%Y-%m-%d %H:%M} UTC, one window ({feature.window}) later"
        )


@rules_app.command("snooze")
def rules_snooze(
    rule_id: Annotated[str, typer.Argument(help="The rule to quiet, e.g. fraud.impossible_travel.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown with the snooze).")],
    customer: Annotated[str | None, typer.Option("--customer", help="Quiet it for this customer.")] = None,
    dedup_key: Annotated[str | None, typer.Option("--dedup-key", help="Quiet it for this dedup key.")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="End, e.g. 2026-03-10T00:00:00+00:00.")] = None,
    for_: Annotated[str | None, typer.Option("--for", help="Or a duration from now: 90m, 12h, 7d.")] = None,
    by: Annotated[str, typer.Option("--by", help="Who snoozes.")] = "",
) -> None:
    """Suppress a rule for one customer (or dedup key) until a time, without editing its pack."""
    import getpass

    from ctxi.rules.model import parse_duration
    from ctxi.rules.publish import send, snooze_message
    from ctxi.rules.snooze import Snooze

    if (until is None) == (for_ is None):
        _err("error: give either --until or --for")
        raise typer.Exit(2)
    if until is None:
        duration = parse_duration(for_)
        if not isinstance(duration, timedelta):
            _err(f"error: --for {for_!r} is not a duration like 90m, 12h or 7d")
            raise typer.Exit(2)
        until = datetime.now(UTC) + duration
    elif until.tzinfo is None:
        _err("error: --until needs a UTC offset, e.g. 2026-03-10T00:00:00+00:00")
        raise typer.Exit(2)
    try:
        snooze = Snooze(
            rule_id=rule_id,
            customer_id=customer,
            dedup_key=dedup_key,
            until=until,
            reason=reason,
            by=by or getpass.getuser(),
        )
    except ValueError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from None
    settings = get_settings()
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    send(settings.kafka_bootstrap_servers, settings.snoozes_topic, snooze_message(snooze))
    typer.echo(f"snoozed {snooze.key} until {snooze.until.isoformat()}")


# --- schemas -----------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(directory: Annotated[Path, typer.Argument(help="Where to write the .schema.json files.")]) -> None:
    """Write JSON Schema files: one per event type, the event envelope union, the task, the dead letter
    and the rule pack (point an editor's YAML support at rule_pack.schema.json to check packs as you type)."""
    directory.mkdir(parents=True, exist_ok=True)
    documents = {
        "event": EVENT_ADAPTER.json_schema(),
        "task": Task.model_json_schema(),
        "dead_letter": DeadLetter.model_json_schema(),
        "rule_pack": Pack.model_json_schema(),
        **{event_type: model.model_json_schema() for event_type, model in EVENT_TYPES.items()},
    }
    for name, schema in documents.items():
        path = directory / f"{name}.schema.json"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    typer.echo(f"wrote {len(documents)} schemas to {directory}")


# --- events ------------------------------------------------------------------------------


@events_app.command("check")
def events_check(files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)]) -> None:
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
            for field_path in unknown_fields(orjson.loads(raw), outcome):
                counts["unknown"] += 1
                typer.echo(
                    f"{origin}: {field_path}: not in the {outcome.type} contract, ignored "
                    "(send it in payload.attributes for rules to read it)"
                )
    unknown = f"; {counts['unknown']} unknown field(s) ignored" if counts["unknown"] else ""
    _err(f"{counts['valid']} valid, {counts['rejected']} rejected{unknown}")
    if counts["rejected"]:
        raise typer.Exit(1)


@events_app.command("produce")
def events_produce(
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
        latest = latest_occurrence(line for _, line in _numbered_lines(file))
        if latest is None:
            _err(f"error: {file} has no event with a readable occurred_at to shift from")
            raise typer.Exit(1)
        delta = datetime.now(UTC).replace(microsecond=0) - latest
        _err(f"shifting every timestamp by {delta} (the latest event happens now)")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")
    sent: Counter[str] = Counter()
    not_sent = 0

    def refused(number: int, target: str, size: int) -> Callable[[Exception], None]:
        def report(error: Exception) -> None:
            nonlocal not_sent
            not_sent += 1
            sent[target] -= 1
            _err(f"{file}:{number}: not sent ({size} bytes): {type(error).__name__}: {error}")

        return report

    for number, line in _numbered_lines(file):
        if delta is not None:
            line = shift_line(line, delta)
        target, key = _route(line, settings.input_topic, topic)
        if target is None:
            not_sent += 1
            _err(f"{file}:{number}: no known source in 'type'; not sent (use --topic to send it anyway)")
            continue
        try:
            future = producer.send(target, key=key, value=line)
        except MessageSizeTooLargeError:
            not_sent += 1
            limit = producer.config["max_request_size"]
            _err(f"{file}:{number}: too large ({len(line)} bytes; a message may have {limit}); not sent")
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
        _err(f"{not_sent} line(s) not sent (reported above)")
    if not_sent and not sum(sent.values()):
        raise typer.Exit(1)


# --- simulate and evaluate ---------------------------------------------------------------


@contextmanager
def _kafka_errors(settings: Any) -> Iterator[None]:
    """A broker that cannot be reached ends the command with one clear line, not a traceback."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as exc:
        _err(f"error: Kafka at {settings.kafka_bootstrap_servers} failed: {exc} (is it up? ctxi devstack status)")
        raise typer.Exit(1) from None


def _truth_path(events: Path) -> Path:
    return events.with_name(events.name.removesuffix(".jsonl") + ".truth.json")


def _start_time(start: str) -> datetime:
    if start == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(start)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        _err(f"error: --start must be 'now' or a time with its offset, e.g. 2026-03-01T00:00:00Z; got {start!r}")
        raise typer.Exit(2)
    return parsed


@app.command()
def simulate(
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write the events here (JSONL) and the truth beside.")
    ] = None,
    kafka: Annotated[bool, typer.Option("--kafka", help="Send the events to the input topics instead.")] = False,
    rate: Annotated[float | None, typer.Option(min=1, help="Events per second to Kafka (default: flat out).")] = None,
    truth: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Where the ground truth goes (default: beside --out).")
    ] = None,
    customers: Annotated[int, typer.Option(min=1)] = 200,
    seed: Annotated[int, typer.Option(help="The same seed (and start) gives the same stream.")] = 7,
    hours: Annotated[float, typer.Option(min=0.1, help="Length of the simulated stretch.")] = 6.0,
    start: Annotated[str, typer.Option(help="When the stretch starts: a time, or 'now'.")] = "2026-03-01T00:00:00Z",
    malformed: Annotated[float, typer.Option(min=0, max=0.5, help="Bad lines, as a share of events.")] = 0.01,
) -> None:
    """Generate a realistic stream for N customers with planted situations and their ground truth.

    Everyday life (payments and check-ins at home, app sessions, friendly posts) and, for
    a share of customers, one planted situation each: impossible travel (also delivered
    twice, or out of order) and its look-alikes (nearby cities, travel a booking explains),
    missed connections and short delays, debits that will fail and distant ones,
    influential and minor complaints; plus duplicates and malformed lines.
    """
    from ctxi.simulate.evaluate import send
    from ctxi.simulate.stream import SimulationSpec
    from ctxi.simulate.stream import simulate as generate

    if (out is None) == (not kafka):
        _err("error: give exactly one of --out FILE or --kafka")
        raise typer.Exit(2)
    truth_path = truth or (_truth_path(out) if out else Path("simulation.truth.json"))
    spec = SimulationSpec(
        customers=customers, seed=seed, hours=hours, start=_start_time(start), malformed_share=malformed
    )
    lines, ground_truth = generate(spec)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(ground_truth.model_dump_json(indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"\n".join(lines) + b"\n")
        typer.echo(f"{out}: {len(lines):,} lines ({ground_truth.malformed} malformed)")
    else:
        with _kafka_errors(get_settings()):
            send(lines, get_settings(), rate, progress=_err)
        typer.echo(f"sent {len(lines):,} lines to the input topics ({ground_truth.malformed} malformed)")
    kinds = Counter(planted.kind for planted in ground_truth.planted)
    typer.echo(
        f"{truth_path}: {len(ground_truth.planted)} planted situations: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    )


@app.command()
def evaluate(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A stream from ctxi simulate.")],
    truth: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Its ground truth (default: beside it).")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Also run it through a real worker on the configured Kafka and compare.")
    ] = False,
    rate: Annotated[float, typer.Option(min=1, help="Events per second sent to the live worker.")] = 1000.0,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the live worker's tasks.")] = 300.0,
    report: Annotated[Path | None, typer.Option(dir_okay=False, help="Also write the report here (Markdown).")] = None,
) -> None:
    """Score ctxi's decisions on a simulated stream: precision and recall per planted situation.

    Always through the in-process engine (the replay path); with --live also through a
    ctxi worker started for this run in a world of its own (app id, topics and Redis keys
    under a fresh name) on the configured broker, and the two must agree. Exit 1 when a
    situation misses the 0.95 target, the dead letters are off, or replay and live differ.
    """
    from ctxi.engine.garbage import collect_less
    from ctxi.simulate.evaluate import evaluate_stream
    from ctxi.simulate.stream import GroundTruth

    truth_path = truth or _truth_path(events)
    if not truth_path.exists():
        _err(f"error: no ground truth at {truth_path} (give --truth)")
        raise typer.Exit(2)
    ground_truth = GroundTruth.model_validate_json(truth_path.read_bytes())
    settings = get_settings()
    collect_less()
    with _kafka_errors(settings):
        sections, passed = evaluate_stream(
            events,
            ground_truth,
            settings,
            _load_rules(settings.rules_dir),
            live=live,
            rate=rate,
            timeout=timeout,
            progress=_err,
        )
    text = "\n\n".join(sections)
    typer.echo(text)
    if report is not None:
        report.write_text(f"# Decision quality on {events.name}\n\n{text}\n")
    if not passed:
        raise typer.Exit(1)


@app.command()
def bench(
    out: Annotated[Path, typer.Option(file_okay=False, help="Where results, plot, profile and reports go.")] = Path(
        "docs/bench"
    ),
    customers: Annotated[int, typer.Option(min=10, help="Customers in the throughput stream.")] = 2000,
    rates: Annotated[
        str,
        typer.Option(help="Offered events/s for the latency runs, comma separated; 'auto': 25/50/75% of sustained."),
    ] = "auto",
    seconds_per_rate: Annotated[float, typer.Option(min=1, help="Length of each latency run.")] = 20.0,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each throughput measure (the median is reported).")] = 3,
    quality: Annotated[bool, typer.Option(help="Also write the decision-quality report (replay and live).")] = True,
) -> None:
    """The end-to-end benchmark on the configured (local) Kafka and Redis, and the quality report.

    Engine alone (replay path) and its profile; sustained events/s of one worker against a
    bare faust agent on the same broker; event-to-task latency p50/p95/p99, CPU, peak RSS
    and consumer lag at several offered rates. Writes OUT/report.md, results.json,
    latency.png, profile.txt and, with --quality, quality.md. Exit 1 only when decision
    quality fails; timings never fail it.
    """
    from ctxi.benchmarks.endtoend import report, run_bench
    from ctxi.engine.garbage import collect_less
    from ctxi.simulate.evaluate import evaluate_stream
    from ctxi.simulate.stream import GroundTruth

    try:
        offered = None if rates == "auto" else [float(rate) for rate in rates.split(",") if rate.strip()]
    except ValueError:
        _err(f"error: --rates must be 'auto' or numbers separated by commas, got {rates!r}")
        raise typer.Exit(2) from None
    settings = get_settings()
    rule_set = _load_rules(settings.rules_dir)  # the packs the worker it starts runs
    command = " ".join(["ctxi", *sys.argv[1:]])
    collect_less()
    with _kafka_errors(settings):
        results = run_bench(
            settings,
            rule_set,
            out,
            customers=customers,
            rates=offered,
            seconds_per_rate=seconds_per_rate,
            repeats=repeats,
            command=command,
            progress=_err,
        )
        text = report(results)
        passed = True
        if quality:
            stream = out / "stream.jsonl"
            truth = GroundTruth.model_validate_json((out / "stream.truth.json").read_bytes())
            rate = max(100.0, round(results.ctxi_events_per_second / 2, -1))
            sections, passed = evaluate_stream(
                stream, truth, settings, rule_set, live=True, rate=rate, timeout=600, progress=_err
            )
            (out / "quality.md").write_text(f"# Decision quality on {stream.name}\n\n" + "\n\n".join(sections) + "\n")
            text += "\n\n" + "\n\n".join(sections)
    (out / "report.md").write_text(f"# ctxi bench\n\n{text}\n")
    typer.echo(text)
    if not passed:
        raise typer.Exit(1)


def _numbered_lines(file: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of ``file`` with their line numbers, without line endings."""
    with file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line


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
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        app()
    except (SettingsError, ValidationError) as exc:  # a bad CTXI_* variable: one line, not a traceback
        _err(f"error: {settings_problem(exc)}")
        sys.exit(2)


def settings_problem(exc: Exception) -> str:
    """What is wrong with the CTXI_* environment, naming the variable."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"CTXI_{'__'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
    field = re.search(r'field "(\w+)"', str(exc))
    variable = f"CTXI_{field.group(1).upper()}" if field else "a CTXI_ variable"
    cause = f" ({exc.__cause__})" if exc.__cause__ else ""
    return f"{variable} is not valid JSON{cause}"


if __name__ == "__main__":
    sys.exit(main())
