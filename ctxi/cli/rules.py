"""``ctxi rules``: check, test, diff and publish rule packs; snooze rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ctxi.cli.errors import err, fail, validation_line
from ctxi.settings import get_settings
from ctxi.streams.topics import catalogue, ensure_topics

app = typer.Typer(
    help="Rule packs: check, test, diff; publish, withdraw, roll back one pack at a time; status, history; snooze.",
    no_args_is_help=True,
)


def load_rules(directory: Path | None):
    """The rule set of ``directory`` (built-in packs when None); exit 1 listing file:line errors."""
    from ctxi.pack_tools.load import load_rule_dir
    from ctxi.rules import BUILTIN_PACKS
    from ctxi.rules.evaluate import RuleSet
    from ctxi.rules.loader import RulePackError

    try:
        return RuleSet(load_rule_dir(directory or BUILTIN_PACKS, frozenset(get_settings().queues)))
    except RulePackError as exc:
        for error in exc.errors:
            err(error)
        raise typer.Exit(1) from None


@app.command("check")
def check(directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")]) -> None:
    """Validate rule packs: every error as `file:line: what is wrong`; exit 1 if any."""
    rule_set = load_rules(directory)
    packs = rule_set.loaded.packs
    typer.echo(f"{len(rule_set.loaded.rules)} rules in {len(packs)} packs: OK (version {rule_set.version})")


@app.command("reference")
def reference(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it here (docs/rule-reference.md) instead of stdout.")
    ] = None,
) -> None:
    """Every variable, field and signal a rule can read, with its type and an example (Markdown)."""
    from ctxi.pack_tools.reference import reference_markdown

    text = reference_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        err(f"wrote {out}")


@app.command("test")
def test(
    directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")],
    live: Annotated[
        bool, typer.Option("--live", help="With the live set's other packs, as publish will (needs the broker).")
    ] = False,
) -> None:
    """Run the test cases the packs carry; exit 1 if any fails. A test with `with_set: true` runs
    with every pack of the set (the folder's; with --live, the live set as the folder changes it)."""
    from ctxi.pack_tools.pack_tests import run_pack_tests

    loaded = load_rules(directory).loaded
    if live:
        from ctxi.pack_tools.publish import changed_set, read_rules_topic
        from ctxi.rules.loader import RulePackError

        settings = get_settings()
        current = read_rules_topic(settings).live_or_built_in(settings)
        try:
            _, loaded = changed_set(current, dict(loaded.files), "test", "test", frozenset(settings.queues))
        except RulePackError as exc:
            for error in exc.errors:
                err(error)
            fail("the packs do not go together with the live set")
    results = run_pack_tests(loaded, get_settings().engine)
    for result in results:
        typer.echo(
            f"{'PASS' if result.passed else 'FAIL'} {result.pack}: {result.name}"
            + ("" if result.passed else f": {result.detail}")
        )
    failed = sum(not result.passed for result in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(file_okay=False, help="The rule packs as they are.")],
    new: Annotated[Path, typer.Argument(file_okay=False, help="The rule packs as proposed.")],
    events: Annotated[list[Path], typer.Option("--events", exists=True, dir_okay=False, help="JSONL events.")],
) -> None:
    """Replay EVENTS with both rule sets and list the tasks the change adds (+), removes (-) and
    changes (~: queue, priority, title, reason, steps, deferral, channel); warn of a rule changed
    under the same version."""
    from ctxi.engine.replay import replay as run_replay
    from ctxi.rules.changes import task_changes, unversioned_changes
    from ctxi.rules.evaluate import Decision
    from ctxi.schemas.task import Task

    def tasks(rule_set) -> dict[tuple, tuple[Task, str]]:
        found: dict[tuple, tuple[Task, str]] = {}

        def keep(decision: Decision) -> None:
            task = decision.task
            shadow = " (shadow)" if decision.shadow else ""
            key = (task.customer_id, task.action, tuple(task.evidence), bool(shadow))
            found[key] = (task, f"{task.queue}/{task.action} for {task.customer_id} on {task.evidence[0]}{shadow}")

        run_replay(events, get_settings().engine, lambda e: None, lambda d: None, rules=rule_set, decide=keep)
        return found

    from ctxi.engine.garbage import collect_less

    collect_less()
    old_rules, new_rules = load_rules(old), load_rules(new)
    for warning in unversioned_changes(old_rules.loaded, new_rules.loaded):
        err(f"warning: {warning}")
    before, after = tasks(old_rules), tasks(new_rules)
    added = [f"{line}: {task.title}" for key, (task, line) in after.items() if key not in before]
    removed = [f"{line}: {task.title}" for key, (task, line) in before.items() if key not in after]
    changed = [
        (line, changes)
        for key, (task, line) in after.items()
        if key in before and (changes := task_changes(before[key][0], task))
    ]
    for line in added:
        typer.echo(f"+ {line}")
    for line in removed:
        typer.echo(f"- {line}")
    for line, changes in changed:
        typer.echo(f"~ {line}: {'; '.join(changes)}")
    unchanged = len(set(before) & set(after)) - len(changed)
    typer.echo(f"{len(added)} added, {len(removed)} removed, {len(changed)} changed, {unchanged} unchanged")


@app.command("explain")
def explain(
    rule: Annotated[str, typer.Option("--rule", help="The rule to explain, e.g. service.vip_critical_case.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer whose events to explain.")],
    events: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True, dir_okay=False, help="JSONL events (the history); none: the customer's recorded events."
        ),
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rule packs (default: the built-in packs).")] = None,
) -> None:
    """Why RULE did, or did not, make a task for CUSTOMER: replay EVENTS through the engine and, for
    each of the customer's events the rule listens to, show every clause of its condition with its
    value and what it read, the features it read, and what came of it (a task, a revision inside the
    cool-down, a snooze, the contact policy, a shadow, a deferral, or the clause that was false).
    Without EVENTS, the customer's events still on the input topics (and the fleet's flight and
    weather events) are read back and replayed: what the workers saw, as far as the topics keep it."""
    import tempfile

    from ctxi.engine.garbage import collect_less
    from ctxi.engine.replay import replay as run_replay
    from ctxi.rule_language.explain import Explanation

    rule_set = load_rules(rules)
    known = {compiled.rule.id for compiled in rule_set.loaded.rules}
    if rule not in known:
        import difflib

        near = difflib.get_close_matches(rule, sorted(known), n=1)
        fail(f"no rule {rule!r} in the packs" + (f"; did you mean {near[0]!r}?" if near else ""))
    collect_less()
    found: list[Explanation] = []

    def keep(explanation: Explanation) -> None:
        if explanation.customer_id == customer:
            found.append(explanation)

    with tempfile.TemporaryDirectory() as scratch:
        if not events:
            events = [_recorded_events(customer, Path(scratch) / "recorded.jsonl")]
        run_replay(events, get_settings().engine, lambda e: None, lambda d: None, rules=rule_set, explain=(rule, keep))
    listens = ", ".join(next(c.rule.on for c in rule_set.loaded.rules if c.rule.id == rule))
    if not found:
        typer.echo(f"{rule} was never evaluated for {customer}: none of their events is one it listens to ({listens})")
        return
    typer.echo(f"{rule} for {customer}: {len(found)} evaluation(s) ({listens})")
    for explanation in found:
        typer.echo("\n".join(explanation.lines()))


def _recorded_events(customer: str, path: Path) -> Path:
    """The customer's events and the fleet's, read back from the input topics into ``path``."""
    import orjson

    from ctxi.schemas.events import EVENT_TYPES, FleetEventEnvelope
    from ctxi.streams.topics import read_to_end

    fleet = {name for name, model in EVENT_TYPES.items() if issubclass(model, FleetEventEnvelope)}
    settings = get_settings()
    err(f"reading {', '.join(settings.input_topics)} for {customer}'s events and the fleet's...")
    kept = 0
    with path.open("wb") as out:
        for value in read_to_end(settings.kafka_bootstrap_servers, settings.input_topics):
            try:
                document = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue  # a dead letter: it reached no rule
            if isinstance(document, dict) and (
                document.get("customer_id") == customer or document.get("type") in fleet
            ):
                out.write(value + b"\n")
                kept += 1
    err(f"{kept} event(s) read back")
    return path


def _who(by: str) -> str:
    import getpass

    return by or getpass.getuser()


def _change_live_set(changes: dict[str, str | None], change: str | None, by: str, action: str) -> None:
    """Apply ``changes`` ({pack: new text, or None to withdraw}) to the live set: compile the whole
    new set, run the tests of every pack in it, write it; print the new live set. ``change`` says
    what it is (None: "published" and the packs that change)."""
    from ctxi.pack_tools.pack_tests import run_pack_tests
    from ctxi.pack_tools.publish import (
        apply_change,
        changed_set,
        history_records,
        load_published,
        new_features,
        read_rules_topic,
    )
    from ctxi.rules.changes import unversioned_changes
    from ctxi.rules.loader import RulePackError

    settings = get_settings()
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    current = read_rules_topic(settings).live_or_built_in(settings)
    live_texts = {name: pack.text for name, pack in current.packs.items()}
    changes = {name: text for name, text in changes.items() if live_texts.get(name) != text}  # the rest is as live
    if not changes:
        typer.echo(f"nothing to change: rules version {current.version} live ({', '.join(sorted(current.packs))})")
        return
    change = change or f"published {', '.join(sorted(changes))}"
    try:
        new, loaded = changed_set(current, changes, change, by, frozenset(settings.queues))
    except RulePackError as exc:
        for error in exc.errors:
            err(error)
        fail("not changed: the packs do not go together in one live set")
    running = load_published(current.packs, frozenset(settings.queues))
    for warning in unversioned_changes(running, loaded):
        err(f"warning: {warning}")
    failures = [result for result in run_pack_tests(loaded, settings.engine) if not result.passed]
    for failure in failures:
        err(f"FAIL {failure.pack}: {failure.name}: {failure.detail}")
    if failures:
        fail("not changed: tests of the packs in the new live set fail")
    starting = new_features(loaded, running)
    apply_change(settings, new, history_records(new, changes, action))
    for name, text in sorted(changes.items()):
        what = "withdrawn" if text is None else f"{action} (pack version {new.packs[name].version})"
        typer.echo(f"{name}: {what}")
    typer.echo(f"rules version {new.version} live ({', '.join(sorted(new.packs))}), by {by}")
    for compiled in starting:  # they start empty: rules reading them see partial windows until then
        feature = compiled.feature
        typer.echo(
            f"feature {feature.id} is new or changed: it counts from now and is warm (features.{feature.id}.warm) "
            f"from {new.changed_at + feature.window:%Y-%m-%d %H:%M} UTC, one window ({feature.window}) later"
        )


@app.command("publish")
def publish(
    directory: Annotated[Path, typer.Argument(help="A directory of rule packs (*.yaml).")],
    by: Annotated[str, typer.Option("--by", help="Who publishes (kept with the change).")] = "",
) -> None:
    """Add or replace the packs of DIRECTORY in the live set; every other pack stays as it is.

    The whole new set is checked together and every pack's tests run on it; then workers
    switch to it in one step, without restart. A pack leaves only by `ctxi rules withdraw`;
    `ctxi rules rollback` takes one back. Invalid packs, or failing tests, change nothing.
    """
    rule_set = load_rules(directory)
    _change_live_set(dict(rule_set.loaded.files), None, _who(by), "published")


@app.command("withdraw")
def withdraw(
    pack: Annotated[str, typer.Argument(help="The pack to take out of the live set.")],
    by: Annotated[str, typer.Option("--by", help="Who withdraws it (kept with the change).")] = "",
) -> None:
    """Take one pack out of the live set; every other pack stays as it is."""
    from ctxi.pack_tools.publish import read_rules_topic

    settings = get_settings()
    live = read_rules_topic(settings).live_or_built_in(settings)
    if pack not in live.packs:
        fail(f"{pack} is not live; live packs: {', '.join(sorted(live.packs))}")
    _change_live_set({pack: None}, f"withdrew {pack}", _who(by), "withdrawn")


@app.command("rollback")
def rollback(
    pack: Annotated[str, typer.Argument(help="The pack to take back.")],
    to: Annotated[
        str | None, typer.Option("--to", help="The pack version to go back to (default: the one before).")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who rolls it back (kept with the change).")] = "",
) -> None:
    """Put an earlier version of one pack back in the live set (see `ctxi rules history PACK`); a
    built-in pack can go back to its built-in text."""
    from ctxi.pack_tools.publish import built_in_set, read_rules_topic

    settings = get_settings()
    topic = read_rules_topic(settings)
    live = topic.live_or_built_in(settings)
    current = live.packs[pack].version if pack in live.packs else None
    built_in = built_in_set(settings).packs.get(pack)
    versions = [(built_in.version, built_in.text)] if built_in else []  # (version, text), oldest first
    versions += [(str(change.version), change.text) for change in topic.history_of(pack) if change.text is not None]
    if to is None:
        earlier = [(version, text) for version, text in versions if version != current]
        if not earlier:
            fail(f"{pack} has no earlier version to go back to (`ctxi rules history {pack}`)")
        version, text = earlier[-1]
    else:
        found = [(version, text) for version, text in versions if version == to]
        if not found:
            known = ", ".join(dict.fromkeys(version for version, _ in versions)) or "none"
            fail(f"{pack} has no version {to}; its versions: {known}")
        version, text = found[-1]
    _change_live_set({pack: text}, f"rolled {pack} back to {version}", _who(by), "rolled back")


@app.command("status")
def status() -> None:
    """What is live: each pack with its version, who published it and when; the set's version."""
    from ctxi.pack_tools.publish import BUILT_IN, read_rules_topic

    settings = get_settings()
    topic = read_rules_topic(settings)
    live = topic.live_or_built_in(settings)
    if topic.live is None:
        typer.echo(f"rules version {live.version}: the built-in packs (nothing published yet)")
    else:
        typer.echo(
            f"rules version {live.version}: {live.change}, by {live.changed_by}, {live.changed_at:%Y-%m-%d %H:%M} UTC"
        )
    for name, pack in sorted(live.packs.items()):
        when = "" if pack.published_by == BUILT_IN else f" {pack.published_at:%Y-%m-%d %H:%M} UTC"
        typer.echo(f"  {name:<16} version {pack.version}  by {pack.published_by}{when}")


@app.command("history")
def history(pack: Annotated[str, typer.Argument(help="The pack whose changes to list.")]) -> None:
    """Every change of one pack, oldest first: published, withdrawn, rolled back; by whom, when."""
    from ctxi.pack_tools.publish import read_rules_topic

    changes = read_rules_topic(get_settings()).history_of(pack)
    if not changes:
        fail(f"{pack} has no published history (a built-in pack never published is not listed)")
    for change in changes:
        version = f"version {change.version}" if change.version else "-"
        typer.echo(f"{change.at:%Y-%m-%d %H:%M:%S} UTC  {change.action:<11} {version:<20} by {change.by}  "
                   f"(set {change.set_version})")  # fmt: skip


@app.command("snooze")
def snooze(
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

    from ctxi.pack_tools.publish import send, snooze_message
    from ctxi.rules.snooze import Snooze
    from ctxi.schemas.common import parse_duration

    if (until is None) == (for_ is None):
        fail("give either --until or --for", code=2)
    if until is None:
        try:
            duration = parse_duration(for_)
        except ValueError:
            fail(f"--for {for_!r} is not a duration like 90m, 12h or 7d", code=2)
        until = datetime.now(UTC) + duration
    elif until.tzinfo is None:
        fail("--until needs a UTC offset, e.g. 2026-03-10T00:00:00+00:00", code=2)
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
        fail(f"{exc}", code=2)
    settings = get_settings()
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    send(settings.kafka_bootstrap_servers, settings.snoozes_topic, snooze_message(snooze))
    typer.echo(f"snoozed {snooze.key} until {snooze.until.isoformat()}")


@app.command("snoozes")
def snoozes(
    all_: Annotated[bool, typer.Option("--all", help="Also list the snoozes that have expired.")] = False,
) -> None:
    """List the snoozes in force (rule, customer or dedup key, until when, why, by whom)."""
    from ctxi.pack_tools.publish import read_compacted
    from ctxi.rules.snooze import Snooze

    settings = get_settings()
    now = datetime.now(UTC)
    snoozes = [Snooze.model_validate_json(value) for value in read_compacted(settings, settings.snoozes_topic).values()]
    shown = [snooze for snooze in snoozes if all_ or snooze.until > now]
    for snooze in sorted(shown, key=lambda snooze: snooze.until):
        state = "" if snooze.until > now else " (expired)"
        typer.echo(f"{snooze.key} until {snooze.until.isoformat()}{state}: {snooze.reason} (by {snooze.by})")
    typer.echo(f"{len(shown)} snooze(s)")


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def models_in(path: Path, model: type[Any], bad: list[str], what: str | None = None) -> list[Any]:
    """Each non-blank line of the JSONL ``path`` as ``model``; each line that is not goes to ``bad``
    as ``file:line: not <what>: <every field's problem>``."""
    from pydantic import ValidationError

    from ctxi.ingest.jsonl import numbered_lines

    found = []
    for number, line in numbered_lines(path):
        try:
            found.append(model.model_validate_json(line))
        except ValidationError as exc:
            bad.append(f"{path}:{number}: not {what or f'a {model.__name__}'}: {validation_line(exc)}")
    return found


@app.command("report")
def report(
    tasks: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Tasks as JSONL (default: the task topics).")
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Outcomes as JSONL (default: the outcomes topic)."),
    ] = None,
) -> None:
    """How agents treated each rule version's tasks: raised, closed, completed, dismissed (by
    reason), median time to claim and to resolve; rules whose tasks are mostly dismissed are
    flagged as not useful. Exit 1 when an input line could not be read (the rest is reported)."""
    from pydantic import ValidationError

    from ctxi.ingest.outcomes import outcome_problem
    from ctxi.rules.report import MIN_CLOSED_TO_JUDGE, NOT_USEFUL_DISMISSED_SHARE, rule_usefulness
    from ctxi.schemas.task import Task, TaskOutcome
    from ctxi.sinks.redis import outcome_keys
    from ctxi.streams.topics import read_to_end

    settings = get_settings()
    bad: list[str] = []

    def read(path: Path | None, topics: list[str], model: type[Any]) -> list[Any]:
        if path is not None:
            return models_in(path, model, bad)
        found = []
        for value in read_to_end(settings.kafka_bootstrap_servers, topics):
            try:
                found.append(model.model_validate_json(value))
            except ValidationError as exc:
                bad.append(f"{', '.join(topics)}: a record that is not a {model.__name__}: {validation_line(exc)}")
        return found

    task_list = read(tasks, [settings.task_topic(queue) for queue in settings.queues], Task)
    outcome_list = read(outcomes, [settings.outcomes_topic], TaskOutcome)
    if outcomes is None:  # on the topic: only what a gateway signed counts, as in the workers (a file is yours)
        keys = outcome_keys(
            settings.redis_url, settings.redis_prefix, [key.get_secret_value() for key in settings.outcome_keys]
        )
        now = datetime.now(UTC)
        untrusted = [outcome for outcome in outcome_list if outcome_problem(outcome, keys, now) is not None]
        if untrusted:
            why = "unsigned by any gateway, or closed at an impossible time"
            err(f"{settings.outcomes_topic}: {len(untrusted)} outcome(s) not counted: {why}")
            outcome_list = [outcome for outcome in outcome_list if outcome not in untrusted]
    for line in bad:
        err(line)
    rows = rule_usefulness(task_list, outcome_list)
    typer.echo(
        f"{'rule':<32} {'version':>7} {'raised':>6} {'closed':>6} {'completed':>9} {'dismissed':>9} "
        f"{'claim p50':>9} {'resolve p50':>11} {'after close':>11}"
    )
    for row in rows:
        typer.echo(
            f"{row.rule_id:<32} {row.rule_version:>7} {row.raised:>6} {row.closed:>6} {row.completed:>9} "
            f"{row.dismissed:>9} {_duration(row.median_to_claim):>9} {_duration(row.median_to_resolve):>11} "
            f"{row.after_close:>11}"
        )
    for row in rows:
        if row.not_useful:
            reasons = ", ".join(f"{reason!r} {count}" for reason, count in row.top_reasons(3))
            typer.echo(
                f"not useful: {row.rule_id} v{row.rule_version}: {row.dismissed} of {row.closed} closed tasks "
                f"dismissed ({row.dismissed_share:.0%}); most given reasons: {reasons}"
            )
    typer.echo(
        f"{len(task_list)} task records, {len(outcome_list)} outcomes, {len(rows)} rule versions "
        f"(flagged: {NOT_USEFUL_DISMISSED_SHARE:.0%} or more of at least {MIN_CLOSED_TO_JUDGE} closed tasks dismissed)"
    )
    if bad:
        raise typer.Exit(1)
