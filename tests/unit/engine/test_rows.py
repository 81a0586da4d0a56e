"""Rows kept as their JSON bytes: what is read is what was stored, whatever happened to the model since."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from faust.serializers import codecs

from ctxi.agents.codecs import CONTEXT_CODEC
from ctxi.engine.rows import EncodedRows, RowFile
from ctxi.schemas.context import CustomerContext, SeenEvent


def seen(*event_ids: str) -> list[SeenEvent]:
    return [SeenEvent(event_id=event_id, at=datetime(2026, 3, 3, tzinfo=UTC)) for event_id in event_ids]


def test_the_bytes_kept_are_the_row_when_it_was_stored() -> None:
    encoded: dict[str, bytes] = {}
    rows = EncodedRows(CustomerContext, encoded, decoded_limit=10)
    context = CustomerContext(customer_id="C-1", seen=seen("e-1"))
    rows["C-1"] = context
    context.seen += seen("e-2")  # the engine builds the next state on the same object
    assert [s.event_id for s in codecs.loads(CONTEXT_CODEC, encoded["C-1"]).seen] == ["e-1"]  # the changelog's format


def test_a_row_read_is_handed_over_so_a_failed_decision_cannot_leave_its_changes_behind() -> None:
    rows = EncodedRows(CustomerContext, {}, decoded_limit=10)
    rows["C-1"] = CustomerContext(customer_id="C-1", seen=seen("e-1"))
    first = rows["C-1"]  # the model stored, not decoded again
    first.seen += seen("e-2")  # joined in place, then the decision fails: never stored
    assert [s.event_id for s in rows["C-1"].seen] == ["e-1"]


def test_only_the_rows_stored_last_stay_decoded() -> None:
    rows = EncodedRows(CustomerContext, {}, decoded_limit=2)
    stored = {key: CustomerContext(customer_id=key) for key in ("C-1", "C-2", "C-3")}
    for key, context in stored.items():
        rows[key] = context
    assert rows["C-3"] is stored["C-3"] and rows["C-2"] is stored["C-2"]
    assert rows["C-1"] is not stored["C-1"] and rows["C-1"] == stored["C-1"]  # decoded from its bytes


def test_the_mapping_reads_like_a_dict() -> None:
    rows = EncodedRows(CustomerContext, {}, decoded_limit=0)
    rows["C-1"], rows["C-2"] = CustomerContext(customer_id="C-1"), CustomerContext(customer_id="C-2")
    del rows["C-2"]
    assert list(rows) == ["C-1"] and len(rows) == 1 and "C-2" not in rows and rows.get("C-2") is None
    assert rows.pop("C-1", None) is not None and rows.pop("C-1", None) is None


def test_a_row_file_keeps_rows_on_disk_and_counts_them(tmp_path: Path) -> None:
    rows = RowFile(tmp_path / "rows.sqlite")
    rows["b"], rows["a"] = b"1", b"2"
    rows["a"] = b"3"  # replaced, not added
    assert len(rows) == 2 and rows["a"] == b"3" and "b" in rows and "c" not in rows
    for key in rows:  # written while walked
        rows[key + "!"] = b"x"
    assert sorted(rows) == ["a", "a!", "b", "b!"] and len(rows) == 4
    del rows["a!"]
    with pytest.raises(KeyError):
        del rows["a!"]
    with pytest.raises(KeyError):
        rows["a!"]


@pytest.mark.parametrize("write_batch", [1, 2, 3, 1_000])
def test_a_row_file_reads_the_same_whether_writes_wait_or_went_to_the_file(tmp_path: Path, write_batch: int) -> None:
    rows = RowFile(tmp_path / "rows.sqlite", write_batch=write_batch)
    rows["a"], rows["b"], rows["c"] = b"1", b"2", b"3"
    del rows["b"]
    rows["a"] = b"4"
    rows["b"] = b"5"  # written again after its delete
    del rows["c"]
    assert rows["a"] == b"4" and rows["b"] == b"5" and "c" not in rows and rows.get("c") is None
    with pytest.raises(KeyError):
        del rows["c"]
    assert list(rows) == ["a", "b"] and len(rows) == 2


def test_a_peek_reads_without_taking_the_decoded_row_away() -> None:
    rows = EncodedRows(CustomerContext, {}, decoded_limit=1)
    first, second = CustomerContext(customer_id="C-1"), CustomerContext(customer_id="C-2")
    rows["C-1"], rows["C-2"] = first, second  # only C-2 stays decoded
    assert rows.peek("C-2") is second and rows.peek("C-2") is second and rows["C-2"] is second
    assert rows.peek("C-1") == first and rows.peek("C-1") is not first
    assert rows.peek("C-3") is None


def test_a_row_changed_behind_the_decoded_copy_is_read_from_what_the_mapping_holds() -> None:
    """An aborted transaction's rows are dropped from the table and read back from the changelog
    (streams/faust_fixes/rollback.py): the decoded copy, which had the aborted events, is not read."""
    encoded: dict[str, bytes] = {}
    rows = EncodedRows(CustomerContext, encoded, decoded_limit=10)
    committed = CustomerContext(customer_id="C-1", late_events=1)
    rows["C-1"] = committed
    before = encoded["C-1"]
    rows["C-1"] = CustomerContext(customer_id="C-1", late_events=2)  # stored in the transaction later aborted
    rows["C-2"] = CustomerContext(customer_id="C-2")  # a new row of the aborted transaction
    encoded["C-1"] = bytes(before)  # the rollback: the committed row, read back from the changelog
    del encoded["C-2"]  # a row the changelog never had
    assert rows.peek("C-1") == committed and rows["C-1"] == committed
    assert rows.peek("C-2") is None and rows.get("C-2") is None
    rows["C-1"] = kept = CustomerContext(customer_id="C-1", late_events=3)
    assert rows["C-1"] is kept  # nothing changed it since: the decoded row itself
