"""The `ctxi` commands that need no services."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.devstack import DevStack, DevStackError
from ctxi.devstack.stack import kafka_cluster_id
from ctxi.schemas.events import EVENT_TYPES
from ctxi.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
runner = CliRunner()


def test_schemas_export_writes_one_schema_per_event_type_plus_envelope_task_and_dead_letter(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path / "schemas")])
    assert result.exit_code == 0, result.output
    written = {path.name for path in (tmp_path / "schemas").iterdir()}
    expected = {f"{name}.schema.json" for name in [*EVENT_TYPES, "event", "task", "dead_letter", "rule_pack"]}
    assert written == expected
    envelope = orjson.loads((tmp_path / "schemas" / "event.schema.json").read_bytes())
    assert envelope["discriminator"]["propertyName"] == "type"
    assert set(envelope["discriminator"]["mapping"]) == set(EVENT_TYPES)
    pack = orjson.loads((tmp_path / "schemas" / "rule_pack.schema.json").read_bytes())
    assert pack["additionalProperties"] is False and "defer" in pack["$defs"]["TaskTemplate"]["properties"]
    task = orjson.loads((tmp_path / "schemas" / "task.schema.json").read_bytes())
    assert {"task_id", "priority", "reason", "evidence", "not_before", "expires_at"} <= set(task["required"])


def test_events_check_accepts_the_examples() -> None:
    result = runner.invoke(app, ["events", "check", str(EXAMPLES / "events.jsonl")])
    assert result.exit_code == 0, result.output
    assert "14 valid, 0 rejected" in result.output


def test_events_check_reports_file_line_and_reason_and_fails() -> None:
    bad = EXAMPLES / "bad-events.jsonl"
    result = runner.invoke(app, ["events", "check", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{bad}:1: not valid JSON: expected ident at line 1 column 2" in lines
    assert f"{bad}:4: payload.amount: Input should be a valid number" in lines
    assert "0 valid, 5 rejected" in result.output


def test_events_produce_cannot_shift_a_file_without_event_times(tmp_path: Path) -> None:
    events = tmp_path / "no-times.jsonl"
    events.write_text('not json\n{"type": "crm.interaction"}\n')
    result = runner.invoke(app, ["events", "produce", "--shift-to-now", str(events)])
    assert result.exit_code == 1
    assert "has no event with a readable occurred_at to shift from" in result.output


def test_devstack_stop_names_the_services_it_knows() -> None:
    result = runner.invoke(app, ["devstack", "stop", "zookeeper"])
    assert result.exit_code == 1
    assert "unknown service 'zookeeper'; the dev stack runs kafka, redis" in result.output


def test_a_kafka_cluster_id_never_starts_with_a_dash() -> None:
    """StorageTool read such an id as an option: `devstack up` failed about one start in 64."""
    draws = iter([b"\xf8" + bytes(15), b"\x01" * 16])  # the first encodes as '-...'
    cluster_id = kafka_cluster_id(lambda size: next(draws))
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"


def test_a_failed_devstack_up_leaves_nothing_it_started_running(tmp_path) -> None:
    """Kafka's port is taken: Redis, started first, is stopped again."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        redis_port = _free_port()
        settings = Settings(
            devstack_dir=tmp_path / "stack",
            devstack_kafka_port=taken.getsockname()[1],
            devstack_redis_port=redis_port,
        )
        stack = DevStack(settings, echo=lambda line: None)
        with pytest.raises(DevStackError, match="is taken by another process"):
            stack.up()
        assert not (tmp_path / "stack" / "redis.pid").exists()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", redis_port)) != 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_events_check_names_the_fields_the_contract_does_not_know(tmp_path: Path) -> None:
    """They used to vanish silently: now named, the events still valid, attributes read as sent."""
    interaction = {
        "event_id": "i1",
        "type": "crm.interaction",
        "customer_id": "C-1",
        "occurred_at": "2026-03-01T10:00:00Z",
        "payload": {"channel": "phone", "case_id": "CASE-1", "topic": "refund", "attributes": {"wait_s": 340}},
    }
    segment = {
        "flight": "BA1",
        "origin": "JFK",
        "destination": "LHR",
        "departs_at": "2026-03-02T10:00:00Z",
        "arrives_at": "2026-03-02T18:00:00Z",
        "seat": "12A",
    }
    booking = {
        **interaction,
        "event_id": "b1",
        "type": "travel.booking",
        "payload": {"booking_id": "P", "segments": [segment]},
    }
    path = tmp_path / "new-fields.jsonl"
    path.write_bytes(orjson.dumps(interaction) + b"\n" + orjson.dumps(booking) + b"\n")
    result = runner.invoke(app, ["events", "check", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        f"{path}:1: payload.topic: not in the crm.interaction contract, ignored "
        "(send it in payload.attributes for rules to read it)"
    ) in lines
    assert any(line.startswith(f"{path}:2: payload.segments.0.seat: not in the travel.booking") for line in lines)
    assert "2 valid, 0 rejected; 2 unknown field(s) ignored" in result.output


def test_worker_refuses_a_faust_its_fixes_were_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctxi.streams import faust_fixes

    monkeypatch.setitem(faust_fixes.WRITTEN_FOR, "faust-streaming", "0.99.0")
    # an unreachable broker: the refusal must come before anything touches Kafka
    monkeypatch.setenv("CTXI_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "faust-streaming 0.15.3 (written for 0.99.0)" in result.output


def test_desktop_token_makes_agent_and_supervisor_entries() -> None:
    from ctxi.settings import AgentAccess

    def entry(*args: str) -> AgentAccess:
        result = runner.invoke(app, ["desktop", "token", *args])
        assert result.exit_code == 0, result.output
        agents = orjson.loads(result.output.split("CTXI_AGENTS='")[1].split("'")[0])
        return AgentAccess.model_validate(agents[args[0]])

    assert entry("A-1", "--queues", "fraud").role == "agent"
    lead = entry("L-1", "--queues", "fraud, travel", "--supervisor")
    assert (lead.role, lead.queues) == ("supervisor", ["fraud", "travel"])
    refused = runner.invoke(app, ["desktop", "token", "A-2", "--queues", "billing"])
    assert refused.exit_code == 2 and "unknown: ['billing']" in refused.output
