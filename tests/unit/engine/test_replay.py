"""ctxi replay over examples/scenarios.jsonl: the SPEC's situations, deterministically."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.engine.pipeline import Engine, EnrichedEvent
from ctxi.engine.replay import replay
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.settings import EngineConfig

SCENARIOS = Path(__file__).resolve().parents[3] / "examples" / "scenarios.jsonl"


def run(path: Path = SCENARIOS) -> tuple[list[EnrichedEvent], list[DeadLetter]]:
    published: list[EnrichedEvent] = []
    rejected: list[DeadLetter] = []
    replay([path], EngineConfig(), published.append, rejected.append)
    return published, rejected


def kinds(published: list[EnrichedEvent]) -> dict[tuple[str, str], list[str]]:
    return {(e.event_id, e.customer_id): [s.kind for s in e.signals] for e in published}


def signal(published: list[EnrichedEvent], event_id: str, customer_id: str, kind: str):
    [found] = [
        s
        for e in published
        if (e.event_id, e.customer_id) == (event_id, customer_id)
        for s in e.signals
        if s.kind == kind
    ]
    return found


def test_the_spec_situations() -> None:
    published, _ = run()
    by_event = kinds(published)
    # card in Paris 90 min after a New York check-in: impossible travel
    conflict = signal(published, "sc-003", "C-1001", "location_conflict")
    assert 5800 < conflict.distance_km < 5900 and not conflict.explained_by_travel
    # the same in Jersey City 20 min later: nothing
    assert ("sc-006", "C-1002") not in by_event
    # a 120 min delay of BA178 reaches both customers booked on it, and breaks their connection
    for customer in ("C-4004", "C-4005"):
        assert signal(published, "sc-016", customer, "flight_disruption").missed_connection
    # a 10 min delay: a harmless disruption
    assert not signal(published, "sc-017", "C-4006", "flight_disruption").missed_connection
    # storm at the connecting airport, for both Heathrow connections
    assert {c for (e, c), k in by_event.items() if e == "sc-018"} == {"C-4004", "C-4005"}
    # balance too low for the rent due in 2 days
    shortfall = signal(published, "sc-022", "C-2002", "balance_shortfall")
    assert (shortfall.days_until_due, shortfall.shortfall) == (2, 1337.6)
    # the same complaint reaches much further from 80k followers than from 40
    assert signal(published, "sc-031", "C-3003", "social").reach > signal(published, "sc-032", "C-3004", "social").reach
    assert signal(published, "sc-032", "C-3004", "social").sentiment_source == "vader"
    # the customer on a phone
    assert signal(published, "sc-014", "C-4004", "device").on_phone


def test_the_same_event_delivered_twice_is_processed_once() -> None:
    published, _ = run()
    assert sum(1 for e in published if e.event_id == "sc-006") == 0
    summary = replay([SCENARIOS], EngineConfig(), lambda e: None, lambda d: None)
    assert summary.outcomes["duplicate"] == 1


def test_bad_lines_become_dead_letters_with_file_and_line() -> None:
    _, rejected = run()
    assert [(d.origin.line, d.reason.split(":")[0]) for d in rejected] == [(10, "occurred_at"), (21, "not valid JSON")]


def test_replay_is_deterministic_and_independent_of_file_order(tmp_path: Path) -> None:
    lines = SCENARIOS.read_bytes().splitlines()
    random.Random(7).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(lines) + b"\n")
    first, _ = run()
    again, _ = run()
    reordered, _ = run(shuffled)
    assert first == again
    assert sorted(orjson.dumps(e.model_dump()) for e in reordered) == sorted(
        orjson.dumps(e.model_dump()) for e in first
    )


def test_cli_replay_writes_jsonl_dead_letters_and_a_summary(tmp_path: Path) -> None:
    out, letters = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    result = CliRunner().invoke(
        app, ["replay", str(SCENARIOS), "--signals", "--out", str(out), "--dead-letter", str(letters)]
    )
    assert result.exit_code == 0, result.output
    records = [EnrichedEvent.model_validate_json(line) for line in out.read_bytes().splitlines()]
    assert records == run()[0]
    assert len(letters.read_bytes().splitlines()) == 2
    assert "replayed 30 events for 8 customers" in result.output
    assert "rejected lines: 2; failed in the engine: 0; rule failures: 0; duplicates: 1" in result.output


def test_cli_replay_rejects_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2


def test_an_engine_failure_is_dead_lettered_and_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    handle = Engine.handle

    def failing_handle(self: Engine, message):
        if getattr(message, "event_id", None) == "sc-022":
            raise ZeroDivisionError("division by zero")
        return handle(self, message)

    monkeypatch.setattr(Engine, "handle", failing_handle)
    published, rejected = run()
    [failure] = [letter for letter in rejected if letter.errors[0].type == "processing_error"]
    assert failure.reason == "processing failed: ZeroDivisionError: division by zero"
    assert (failure.origin.line, failure.event_id) == (20, "sc-022")
    assert "sc-022" not in {e.event_id for e in published}
    assert "sc-023" in {e.event_id for e in published}  # the rest carried on


def test_an_input_sorted_in_runs_on_disk_replays_as_one_sorted_in_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = SCENARIOS.read_bytes().splitlines()
    random.Random(3).shuffle(lines)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"  # two files: origins name each
    first.write_bytes(b"\n".join(lines[: len(lines) // 2]) + b"\n")
    second.write_bytes(b"\n".join(lines[len(lines) // 2 :]) + b"\n")

    def replayed() -> tuple[list[bytes], list[tuple[str, object]], list[bytes]]:
        published: list[EnrichedEvent] = []
        rejected: list[DeadLetter] = []
        summary = replay([first, second], EngineConfig(), published.append, rejected.append)
        contexts = [orjson.dumps(summary.contexts[key].model_dump(mode="json")) for key in summary.contexts]
        letters = [(letter.reason, letter.origin) for letter in rejected]  # without the time each was made
        return [orjson.dumps(e.model_dump(mode="json")) for e in published], letters, contexts

    in_memory = replayed()
    monkeypatch.setattr("ctxi.engine.replay.SORT_RUN_EVENTS", 5)  # a run of 5 events each
    in_runs = replayed()
    assert in_runs == in_memory and in_memory[0] and in_memory[2]
    assert {origin.path for _, origin in in_runs[1]} == {str(first), str(second)}  # type: ignore[attr-defined]
