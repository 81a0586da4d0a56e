"""Service-level policies: loaded and looked up, and every mistake reported as file:line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.prioritize.formula import priority_band
from ctxi.schemas.task import Task
from ctxi.service_levels.policy import (
    POLICY_DOCUMENT,
    Deadlines,
    LoadedPolicy,
    PolicyError,
    arrived,
    load_policy,
    load_policy_text,
)
from tests.factories import make_task

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "service-levels.yaml"
QUEUES = frozenset({"fraud", "travel", "service"})
CREATED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def policy_text(*levels: str) -> str:
    return "policy: floor\nowner: ops\nlevels:\n" + "".join(levels)


def level(
    queue: str = "fraud", priority: str = "critical", claim: str = "5m", resolve: str = "30m", extra: str = ""
) -> str:
    return (
        f"  - queue: {queue}\n    priority: {priority}\n    claim_within: {claim}\n    resolve_within: {resolve}\n"
        + extra
    )


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as refused:
        load_policy_text("floor.yaml", text, QUEUES)
    return refused.value.errors


def test_the_example_loads_and_gives_each_band_its_targets() -> None:
    loaded = load_policy(EXAMPLE, QUEUES)
    critical = loaded.level_for("fraud", "critical")
    assert (critical.claim_within, critical.resolve_within) == (timedelta(minutes=5), timedelta(minutes=30))
    assert [(stage.after, stage.raise_priority_by) for stage in critical.escalate] == [
        (timedelta(0), 15),
        (timedelta(minutes=10), 10),
    ]
    assert loaded.level_for("fraud", "low").claim_within == timedelta(minutes=30)  # the queue's "any"
    assert loaded.deadlines("fraud", "critical", CREATED) == Deadlines(
        CREATED + timedelta(minutes=5), CREATED + timedelta(minutes=30)
    )


def test_a_band_without_a_level_or_any_has_no_deadlines() -> None:
    loaded = load_policy_text("floor.yaml", policy_text(level(priority="critical")), QUEUES)
    assert loaded.deadlines("fraud", "high", CREATED) is None
    assert loaded.deadlines("travel", "critical", CREATED) is None


def test_a_level_covers_its_band_and_those_above_up_to_the_next_band_with_a_level() -> None:
    loaded = load_policy_text(
        "floor.yaml",
        policy_text(
            level(queue="service", priority="high", claim="30m", resolve="4h"),
            level(queue="service", priority="any", claim="4h", resolve="1d"),
            level(queue="fraud", priority="medium", claim="30m", resolve="4h"),
            level(queue="fraud", priority="critical", claim="5m", resolve="30m"),
        ),
        QUEUES,
    )
    targets = {
        (queue, band): loaded.level_for(queue, band).claim_within
        for queue in ("service", "fraud")
        for band in ("low", "medium", "high", "critical")
        if loaded.level_for(queue, band) is not None
    }
    minutes = {key: int(value.total_seconds() // 60) for key, value in targets.items()}
    assert minutes == {
        ("service", "low"): 240,
        ("service", "medium"): 240,
        ("service", "high"): 30,
        ("service", "critical"): 30,  # high's level, not the slower catch-all
        ("fraud", "medium"): 30,
        ("fraud", "high"): 30,
        ("fraud", "critical"): 5,
    }  # fraud low: no level at or below it, no "any": no deadlines
    high = loaded.level_for("service", "high")
    assert loaded.bands_of(high) == ["high", "critical"]


def test_a_more_urgent_band_given_a_slower_target_is_refused_at_its_line() -> None:
    errors = errors_of(
        policy_text(
            level(queue="service", priority="any", claim="30m", resolve="4h"),
            level(queue="service", priority="high", claim="1h", resolve="2h"),
        )
    )
    assert errors == [
        "floor.yaml:8: levels.1: service high tasks get claim_within 1h, slower than medium's 30m: "
        "a more urgent band never waits longer"
    ]


def test_an_unknown_key_names_its_line_and_the_nearest_key() -> None:
    text = policy_text(level(), "  - queue: travel\n    priority: any\n    claim_whithin: 1h\n    resolve_within: 8h\n")
    errors = errors_of(text)
    assert "floor.yaml:8: levels.1.claim_within: Field required" in errors
    assert (
        "floor.yaml:10: levels.1.claim_whithin: unknown key 'claim_whithin'; did you mean 'claim_within'? "
        "allowed here: queue, priority, claim_within, resolve_within, escalate"
    ) in errors


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (
            (level(queue="billing"),),
            "floor.yaml:4: levels.0.queue: unknown queue 'billing'; tasks go to fraud, service, travel",
        ),
        ((level(), level()), "floor.yaml:8: levels.1: a second level for fraud critical; each pair has one"),
        ((level(claim="1h", resolve="30m"),), "floor.yaml:4: levels.0: Value error, claim_within cannot be longer"),
        ((level(claim="0m"),), "floor.yaml:4: levels.0: Value error, claim_within must be more than 0 and at most 30d"),
        ((level(resolve="31d"),), "floor.yaml:4: levels.0: Value error, resolve_within must be more than 0"),
        ((level(priority="urgent"),), "floor.yaml:5: levels.0.priority: Input should be 'critical', 'high',"),
        (
            (level(claim="soon"),),
            "floor.yaml:6: levels.0.claim_within: 'soon' is not a duration: write a whole number and s, m, h or d",
        ),
        (
            (
                level(
                    extra="    escalate:\n      - after: 10m\n        raise_priority_by: 5\n"
                    "      - after: 5m\n        raise_priority_by: 5\n"
                ),
            ),
            "floor.yaml:4: levels.0: Value error, escalate: each stage's 'after' must be later than the one before",
        ),
    ],
)
def test_each_mistake_is_reported_at_its_line(levels: tuple[str, ...], expected: str) -> None:
    [error] = errors_of(policy_text(*levels))
    assert error.startswith(expected), error


def test_yaml_syntax_and_size_are_bounded_and_located() -> None:
    [syntax] = errors_of(policy_text(level()) + "  - queue: [travel\n")
    assert syntax.startswith("floor.yaml:")
    assert "YAML syntax" in syntax
    [size] = errors_of("# " + "x" * POLICY_DOCUMENT.max_bytes)
    assert size.endswith(f"a service-level policy may have {POLICY_DOCUMENT.max_bytes:,}")
    [shape] = errors_of("- just a list\n")
    assert shape == "floor.yaml:1: a service-level policy is a mapping with policy, owner, levels"


def test_ctxi_sla_check_prints_the_targets_or_every_error(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["sla", "check", str(EXAMPLE)])
    assert good.exit_code == 0, good.output
    assert (
        "fraud    critical claim within   5m, resolve within  30m; if unclaimed: +15 at claim_by, +10 at claim_by+10m "
        "(critical)" in good.output
    )
    service_high = "service  high     claim within  30m, resolve within   4h; if unclaimed: +10 at claim_by"
    assert f"{service_high} (high, critical)" in good.output
    assert "6 levels in policy contact-center: OK" in good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_text(level(queue="billing"), level(), level()))
    refused = runner.invoke(app, ["sla", "check", str(bad)])
    assert refused.exit_code == 1
    assert f"{bad}:4: levels.0.queue: unknown queue 'billing'" in refused.output
    assert f"{bad}:12: levels.2: a second level for fraud critical; each pair has one" in refused.output
    missing = runner.invoke(app, ["sla", "check", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 1
    assert "none.yaml:1: cannot read it" in missing.output


def test_the_engine_gives_each_task_its_deadlines_and_replay_does_the_same(tmp_path: Path) -> None:
    """The one engine: a worker's (Engine.service_levels) and ctxi replay --sla give the same deadlines."""
    from ctxi.engine.replay import replay
    from ctxi.pack_tools.load import load_rule_dir
    from ctxi.rules import BUILTIN_PACKS
    from ctxi.rules.evaluate import RuleSet
    from ctxi.settings import EngineConfig

    scenarios = EXAMPLE.parent / "scenarios.jsonl"
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES))
    policy = load_policy(EXAMPLE, QUEUES)

    def replayed(service_levels: LoadedPolicy | None) -> list[Task]:
        tasks: list[Task] = []
        replay(
            [scenarios],
            EngineConfig(),
            lambda e: None,
            lambda d: None,
            rules=rules,
            service_levels=service_levels,
            decide=lambda decision: tasks.append(decision.task),
        )
        return tasks

    tasks = replayed(policy)
    assert tasks
    for task in tasks:
        expected = policy.deadlines(task.queue, priority_band(task.priority), task.created_at)
        assert expected is not None  # the example covers every queue
        assert (task.claim_by, task.resolve_by) == (expected.claim_by, expected.resolve_by)
    untimed = replayed(None)
    assert [(t.task_id, t.claim_by) for t in untimed] == [(t.task_id, None) for t in tasks]

    out = tmp_path / "tasks.jsonl"
    result = CliRunner().invoke(app, ["replay", str(scenarios), "--sla", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    replayed = [Task.model_validate_json(line) for line in out.read_bytes().splitlines()]
    active = [task for task in tasks if any(t.task_id == task.task_id for t in replayed)]
    assert [(t.task_id, t.claim_by, t.resolve_by) for t in replayed] == [
        (t.task_id, t.claim_by, t.resolve_by) for t in active
    ]


def test_replay_refuses_a_policy_with_mistakes_listing_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_text(level(queue="billing")))
    result = CliRunner().invoke(app, ["replay", str(EXAMPLE.parent / "scenarios.jsonl"), "--sla", str(bad)])
    assert result.exit_code == 1
    assert "error: the service-level policy cannot be used:" in result.output
    assert f"{bad}:4: levels.0.queue: unknown queue 'billing'" in result.output


def test_escalation_stages_fall_due_from_claim_by() -> None:
    loaded = load_policy(EXAMPLE, QUEUES)  # fraud critical: +15 at claim_by, +10 ten minutes later
    task = make_task(priority=90).model_copy(update={"claim_by": CREATED + timedelta(minutes=5)})
    assert loaded.escalation_due(task, CREATED + timedelta(minutes=4)) is None
    assert loaded.escalation_due(task, CREATED + timedelta(minutes=5)) == (1, 15)
    assert loaded.escalation_due(task, CREATED + timedelta(minutes=15)) == (2, 25)
    assert loaded.escalation_due(make_task(priority=90), CREATED + timedelta(days=1)) is None  # no claim_by
    travel_medium = make_task(queue="travel", priority=50).model_copy(update={"claim_by": CREATED})
    assert loaded.escalation_due(travel_medium, CREATED + timedelta(days=1)) is None  # a level without stages
    # when the sweep is to look next: each stage's time, then never
    assert loaded.next_escalation(task, CREATED) == CREATED + timedelta(minutes=5)
    assert loaded.next_escalation(task, CREATED + timedelta(minutes=5)) == CREATED + timedelta(minutes=15)
    assert loaded.next_escalation(task, CREATED + timedelta(minutes=15)) is None
    assert loaded.next_escalation(travel_medium, CREATED) is None
    assert loaded.next_escalation(make_task(priority=90), CREATED) is None


def test_a_policy_file_is_read_again_when_it_changes_and_a_bad_change_keeps_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    from ctxi.service_levels.policy import PolicyFile

    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(level(claim="5m")))
    followed = PolicyFile(path, QUEUES)
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=5)

    def rewrite(text: str, tick: int) -> None:
        path.write_text(text)
        os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a new modification time, whatever the clock's grain

    rewrite(policy_text(level(claim="10m")), 1)
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=10)
    rewrite(policy_text(level(queue="billing")), 2)
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=10)
    assert "unknown queue 'billing'" in caplog.text
    path.unlink()
    for _ in range(3):  # looked at every few seconds: said once
        assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=10)
    assert caplog.text.count("cannot be read") == 1
    rewrite(policy_text(level(claim="15m")), 3)  # back: read again
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99999999999999999999999999999999999999d", "is longer than any duration can be"),
        ("99999999999999999999999999999999999999", "Input should be a valid timedelta"),
        (".nan", "NaN values not permitted"),
        ('""', "'' is not a duration"),
    ],
)
def test_hostile_durations_are_errors_at_their_line(value: str, expected: str) -> None:
    [error] = errors_of(policy_text(level(claim=value)))
    assert error.startswith("floor.yaml:6: levels.0.claim_within: ") and expected in error, error


def test_a_nested_policy_is_one_error_at_its_line_and_a_running_follower_keeps_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 630-byte file of 300 '[' once ended `ctxi sla check` in a traceback and killed the worker."""
    import os

    from ctxi.service_levels.policy import PolicyFile

    nested = "policy: " + "[" * 300 + "]" * 300 + "\nowner: o\nlevels: []\n"
    assert errors_of(nested) == ["floor.yaml:1: nested more than 32 deep; a service-level policy may nest 32 levels"]
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text(level(claim="5m")))
    followed = PolicyFile(path, QUEUES)
    path.write_text(nested)
    os.utime(path, ns=(10**9, 10**9))
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=5)
    assert followed.stale and "nested more than 32 deep" in caplog.text
    path.write_text(policy_text(level(claim="10m")))
    os.utime(path, ns=(2 * 10**9, 2 * 10**9))
    assert followed.current().level_for("fraud", "critical").claim_within == timedelta(minutes=10)
    assert not followed.stale


def test_a_task_s_deadlines_count_from_when_it_reached_its_queue() -> None:
    made = CREATED
    task = make_task(
        created_at=made,
        claim_by=made + timedelta(minutes=5),
        resolve_by=made + timedelta(minutes=30),
        expires_at=made + timedelta(minutes=20),
    )
    queued = made + timedelta(hours=9, minutes=25)  # sent long after its events: a backlog, a replay
    on_queue = arrived(task, queued)
    assert on_queue.queued_at == queued
    assert (on_queue.claim_by, on_queue.resolve_by) == (queued + timedelta(minutes=5), queued + timedelta(minutes=30))
    assert on_queue.expires_at == on_queue.resolve_by  # never gone before it is to be resolved by
    early = arrived(task, made - timedelta(seconds=3))  # a source's clock a little ahead of ours
    assert early.claim_by == made - timedelta(seconds=3) + timedelta(minutes=5)
    assert early.expires_at == early.resolve_by
    plain = arrived(make_task(created_at=made, expires_at=made + timedelta(hours=4)), queued)
    assert (plain.queued_at, plain.claim_by, plain.resolve_by, plain.expires_at) == (
        queued,
        None,
        None,
        made + timedelta(hours=4),
    )
