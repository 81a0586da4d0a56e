"""Moving example events to the present keeps their story: the same tasks, only later."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.ingest.retime import latest_occurrence, shift_line
from tests.unit.rules.test_evaluate import SCENARIOS, run


def test_the_latest_event_sets_the_clock_and_bad_lines_do_not() -> None:
    lines = [
        b'{"occurred_at": "2026-03-01T10:00:00Z"}',
        b"not json",
        b'{"occurred_at": "2026-03-01T12:30:00+02:00"}',
        b'{"occurred_at": "yesterday"}',
        b'{"occurred_at": "2026-03-01T11:00:00"}',  # no offset: not a time ctxi accepts
    ]
    assert latest_occurrence(lines) == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert latest_occurrence([b"[]", b"{}"]) is None


def test_every_time_moves_dates_by_whole_days_and_the_rest_stays() -> None:
    line = orjson.dumps(
        {
            "occurred_at": "2026-03-01T10:00:00Z",
            "payload": {
                "segments": [{"departs_at": "2026-03-02T23:30:00+01:00"}],
                "due_date": "2026-03-03",
                "text": "see you 2026-03-01T10:00:00Z",
                "bad": "2026-13-01",
            },
        }
    )
    shifted = orjson.loads(shift_line(line, timedelta(days=2, hours=13)))
    assert shifted["occurred_at"] == "2026-03-03T23:00:00Z"
    assert shifted["payload"]["segments"][0]["departs_at"] == "2026-03-05T12:30:00+01:00"
    assert shifted["payload"]["due_date"] == "2026-03-06"  # 2.5 days rounds to 3
    assert shifted["payload"]["text"] == "see you 2026-03-01T10:00:00Z"
    assert shifted["payload"]["bad"] == "2026-13-01"


def test_a_line_that_is_not_json_is_sent_unchanged() -> None:
    assert shift_line(b"{not json", timedelta(days=1)) == b"{not json"


def test_the_scenarios_make_the_same_tasks_a_week_later(tmp_path: Path) -> None:
    week = timedelta(days=7)
    shifted = tmp_path / "scenarios.jsonl"
    shifted.write_bytes(b"\n".join(shift_line(line, week) for line in SCENARIOS.read_bytes().splitlines()))
    before, _ = run(path=SCENARIOS)
    after, _ = run(path=shifted)

    def moved(text: str, offset: timedelta) -> str:  # a reason naming a day (a debit's) names it a week later
        return re.sub(r"\d{4}-\d{2}-\d{2}", lambda day: str(date.fromisoformat(day[0]) + offset), text)

    def story(decisions, offset):
        return [
            (task.customer_id, task.action, task.priority, moved(task.reason, offset), task.created_at + offset)
            for task in (d.task for d in decisions)
        ]

    assert before and story(after, timedelta(0)) == story(before, week)
