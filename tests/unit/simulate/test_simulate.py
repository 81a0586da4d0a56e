"""The simulator is reproducible and realistic, and the engine's decisions on it stay right."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.settings import EngineConfig
from ctxi.simulate.evaluate import replayed
from ctxi.simulate.quality import disagreement, score
from ctxi.simulate.situations import FRAUD, SITUATIONS
from ctxi.simulate.stream import SimulationSpec, simulate

SPEC = SimulationSpec(customers=300, seed=11)
QUEUES = ("fraud", "travel", "service")
ORIGIN = FileOrigin(path="stream.jsonl", line=1)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory):
    lines, truth = simulate(SPEC)
    path = tmp_path_factory.mktemp("sim") / "stream.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines, truth


def test_the_same_seed_gives_the_same_stream_and_another_seed_another(stream) -> None:
    _, lines, truth = stream
    again, truth_again = simulate(SPEC)
    assert again == lines and truth_again == truth
    assert simulate(SPEC.model_copy(update={"seed": 12}))[0] != lines


def test_every_situation_is_planted_and_only_the_malformed_lines_are_rejected(stream) -> None:
    _, lines, truth = stream
    assert {planted.kind for planted in truth.planted} == set(SITUATIONS)
    rejected = [line for line in lines if isinstance(validate_event(line, ORIGIN), DeadLetter)]
    assert len(rejected) == truth.malformed > 0
    assert len(lines) == truth.events + truth.malformed


def test_the_stream_is_realistic(stream) -> None:
    _, lines, _ = stream
    events = [orjson.loads(line) for line in lines if not isinstance(validate_event(line, ORIGIN), DeadLetter)]
    kinds = {event["type"] for event in events}
    assert {"crm.customer_profile", "billing.card_transaction", "social.checkin", "social.post"} <= kinds
    assert {"travel.booking", "travel.flight_status", "device.session", "billing.balance_low"} <= kinds
    followers = sorted(e["payload"]["followers"] for e in events if e["type"] == "social.post")
    assert followers[-1] > 20 * followers[len(followers) // 2]  # a heavy tail
    cities = {e["payload"]["location"]["city"] for e in events if e["type"] == "billing.card_transaction"}
    assert len(cities) > 50
    agents = [e["payload"]["user_agent"] for e in events if e["type"] == "device.session"]
    assert any("iPhone" in a for a in agents) and any("Android" in a for a in agents)


def test_decision_quality_through_the_engine_meets_the_target(stream) -> None:
    """The regression gate: precision and recall of 0.95 on every situation, in process."""
    path, _, truth = stream
    tasks, rejected = replayed(path, EngineConfig(), RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(QUEUES))))
    report = score(truth, tasks, rejected)
    assert report.passed, report.table()


def test_scoring_counts_misses_duplicates_and_false_alarms(stream) -> None:
    _, _, truth = stream
    fraud = [p.customer_id for p in truth.planted if p.kind == "impossible_travel"]
    nearby = [p.customer_id for p in truth.planted if p.kind == "nearby_city"]
    tasks = [(c, "fraud", FRAUD) for c in fraud[1:]] + [(fraud[1], "fraud", FRAUD), (nearby[0], "fraud", FRAUD)]
    report = score(truth, tasks, dead_letters=truth.malformed)
    row = {s.kind: s for s in report.situations}
    assert (row["impossible_travel"].missed, row["impossible_travel"].duplicates) == (1, 1)
    assert row["impossible_travel"].recall == (len(fraud) - 1) / len(fraud)
    assert row["nearby_city"].false_alarms == 1
    assert not report.passed and "**FAIL**" in report.table()


def test_disagreement_is_a_multiset_difference() -> None:
    a, b = [("C", "q", "x"), ("C", "q", "x")], [("C", "q", "x"), ("D", "q", "y")]
    assert disagreement(a, b) == ([("C", "q", "x")], [("D", "q", "y")])


def test_simulate_and_evaluate_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "small.jsonl"
    made = runner.invoke(app, ["simulate", "--out", str(out), "--customers", "80", "--seed", "3"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "small.truth.json").exists()
    evaluated = runner.invoke(app, ["evaluate", str(out), "--report", str(tmp_path / "report.md")])
    assert evaluated.exit_code == 0, evaluated.output
    assert "| impossible_travel |" in (tmp_path / "report.md").read_text()
    assert runner.invoke(app, ["simulate"]).exit_code == 2  # neither --out nor --kafka
