from __future__ import annotations

from pathlib import Path

import orjson

from ctxi.ingest import read_jsonl
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import PostEvent

POST = {
    "event_id": "evt-10",
    "type": "social.post",
    "customer_id": "C-3003",
    "occurred_at": "2026-03-02T12:00:00+00:00",
    "payload": {"network": "x", "post_id": "1", "text": "hi", "followers": 5, "mentions_brand": False},
}


def test_lines_become_events_or_dead_letters_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(POST) + b"\n\n   \n{broken\r\n" + orjson.dumps({**POST, "event_id": "evt-11"}))
    records = list(read_jsonl(path))
    assert [record.origin.line for record in records] == [1, 4, 5]
    assert records[1].raw == b"{broken"
    outcomes = [record.outcome for record in records]
    assert [type(outcome) for outcome in outcomes] == [PostEvent, DeadLetter, PostEvent]
    letter = outcomes[1]
    assert isinstance(letter, DeadLetter)
    assert letter.origin == FileOrigin(path=str(path), line=4)
    assert letter.original == "{broken"
    assert outcomes[2].event_id == "evt-11"
